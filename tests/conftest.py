"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL when its URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp

from bot.app import create_bolt_app, create_web_client
from bot.config import AppConfig, load_config
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.settings import Settings
from models.config import TeamMember
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
POSTGRES_URL_VARIABLE = "NUDGE_TEST_POSTGRES_URL"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
INTERNAL_DOMAIN = "acme-analytics.example"
REP = TeamMember(
    slack_id="U0REP01", email=f"dana.whitfield@{INTERNAL_DOMAIN}", name="Dana Whitfield",
    tz="America/New_York",
)  # fmt: skip
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_VARIABLE} (CI sets it)")
    return url


async def _create_postgres_database(admin_url: str) -> tuple[str, str]:
    name = f"nudge_t_{uuid.uuid4().hex[:12]}"
    try:
        connection = await asyncpg.connect(admin_url)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL_VARIABLE} is not reachable: {exc}")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base, _, _old = admin_url.rpartition("/")
    return name, f"{base}/{name}"


async def _drop_postgres_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A plain URL of an empty database (the product picks the async driver itself)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nudge.db'}"
        return
    admin_url = _postgres_admin_url()
    name, url = await _create_postgres_database(admin_url)
    yield url
    await _drop_postgres_database(admin_url, name)


@pytest.fixture
def app_config() -> AppConfig:
    """app.yaml as shipped, with one rep on the team."""
    config = load_config(ROOT / "app.yaml")
    crm = config.crm.model_copy(
        update={"team": (REP,), "internal_domains": frozenset({INTERNAL_DOMAIN})}
    )
    return AppConfig(slack=config.slack, crm=crm)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings as the environment would give them, without reading the real environment."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "config_path": ROOT / "app.yaml",
        "slack_bot_token": SecretStr(BOT_TOKEN),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "pseudonym_salt": SecretStr("test-salt-for-pseudonyms"),
    }
    values.update(overrides)
    return Settings.model_construct(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings pointing at the test database."""
    return make_settings(database_url)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    """The fake Slack Web API, served over HTTP on a loopback port for the test."""
    async with FakeSlackApi() as api:
        yield api


@pytest.fixture
async def runtime(settings: Settings, app_config: AppConfig) -> AsyncIterator[Runtime]:
    """A migrated, running Nudge with a fixed clock."""
    runtime = await open_runtime(settings, app_config, clock=lambda: NOW)
    yield runtime
    await close_runtime(runtime)


@pytest.fixture
def bolt(runtime: Runtime, fake: FakeSlackApi) -> AsyncApp:
    """The real Bolt app, its Web API client pointed at the fake (a module whose runtime
    must reach the fake too overrides ``settings`` with its ``slack_api_url``)."""
    client = create_web_client(BOT_TOKEN, fake.base_url)
    return create_bolt_app(runtime, client=client, signing_secret=SIGNING_SECRET)
