"""Roles from app.yaml, user groups and ``/crm role``; admin verbs refuse everyone else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.app import create_bolt_app, create_web_client
from bot.config import AppConfig
from bot.runtime import Runtime, close_runtime, open_runtime
from models.db import unit_of_work
from models.services.access import viewer_for
from models.services.audit import AuditFilter, list_audit
from tests.conftest import NOW, REP, SIGNING_SECRET, make_settings
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.slack_signing import FORM_CONTENT_TYPE, command_body, signed_headers

ADMIN, GROUP_MANAGER, GROUP = "U0ADMIN1", "U0MGR001", "S0MANAGERS"


@pytest.fixture
async def governed(database_url: str, app_config: AppConfig) -> AsyncIterator[Runtime]:
    """Nudge with one admin by user id and a user group of managers in ``crm.roles``."""
    crm = app_config.crm.model_copy(update={"roles": {ADMIN: "admin", GROUP: "manager"}})
    runtime = await open_runtime(
        make_settings(database_url), AppConfig(slack=app_config.slack, crm=crm), clock=lambda: NOW
    )
    yield runtime
    await close_runtime(runtime)


async def _ask(runtime: Runtime, fake: FakeSlackApi, user: str, text: str) -> str:
    bolt = create_bolt_app(
        runtime, client=create_web_client(BOT_TOKEN, fake.base_url), signing_secret=SIGNING_SECRET
    )
    body = command_body("/crm", text, user_id=user, response_url=fake.response_url())
    headers: dict[str, str | Sequence[str]] = dict(
        signed_headers(body, SIGNING_SECRET, content_type=FORM_CONTENT_TYPE)
    )
    seen = len(fake.calls_to("response_url"))
    response = await bolt.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    assert response.status == 200
    answer = (await fake.wait_for("response_url", count=seen + 1))[-1].params
    assert answer["response_type"] == "ephemeral"
    assert "Automated by Nudge" in str(answer["blocks"])
    return str(answer["text"])


async def _role(runtime: Runtime, user: str) -> str:
    async with unit_of_work(runtime.sessions) as session:
        viewer = await viewer_for(
            session=session, workspace_id=runtime.workspace_id, slack_user_id=user
        )
    return viewer.role


async def test_roles_come_from_config_groups_and_admin_command(governed: Runtime) -> None:
    async with FakeSlackApi() as fake:
        fake.answer("usergroups.users.list", {"users": [GROUP_MANAGER]})
        refused = await _ask(governed, fake, REP.slack_id, "audit")
        assert "Only admins" in refused
        assert "you are a rep" in refused
        assert await _role(governed, GROUP_MANAGER) == "manager"
        assert await _role(governed, ADMIN) == "admin"
        assert "Only admins" in await _ask(governed, fake, GROUP_MANAGER, "role <@U0REP01> admin")
        answer = await _ask(governed, fake, ADMIN, f"role <@{REP.slack_id}|dana> manager")
        assert "is now manager (was rep)" in answer
        assert await _role(governed, REP.slack_id) == "manager"
        assert "Usage" in await _ask(governed, fake, ADMIN, "role someone boss")
        trail = await _ask(governed, fake, ADMIN, "audit action:role")
        assert "chain intact" in trail
        assert f"role.set slack_user:{REP.slack_id}" in trail
        assert "filter by" in await _ask(governed, fake, ADMIN, "audit colour:blue")
        assert "Only admins" in await _ask(governed, fake, REP.slack_id, "forget a@b.example")
        confirm = await _ask(governed, fake, ADMIN, "forget <mailto:a@b.example|a@b.example>")
        assert "cannot be undone" in confirm
    async with unit_of_work(governed.sessions) as session:
        rows = await list_audit(session=session, query=AuditFilter(action="role.set"))
    assert [(r.actor, r.before, r.after) for r in rows] == [
        (f"slack:{ADMIN}", {"role": "rep"}, {"role": "manager"})
    ]
