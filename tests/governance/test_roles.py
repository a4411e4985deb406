"""Roles from app.yaml, user groups and ``/crm role``; admin verbs refuse everyone else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import create_web_client
from bot.config import AppConfig
from bot.flows import capture
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.slack_people import refresh_roles
from handlers.slack.admin import FORGET_CANCEL, FORGET_CONFIRM
from models.contact import ContactIdentity
from models.db import unit_of_work
from models.services.access import viewer_for
from models.services.audit import AuditFilter, list_audit
from models.services.inputs import ActivityIn, PersonIn
from models.services.roles import grant_role
from tests.conftest import NOW, REP, make_settings
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.slack_requests import answer_to, crm_answer
from tests.slack_signing import action_body

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
    answer = await crm_answer(runtime, fake, text, user_id=user)
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
        await refresh_roles(governed, create_web_client(BOT_TOKEN, fake.base_url))
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


async def _press(
    runtime: Runtime, fake: FakeSlackApi, user: str, action_id: str, value: str
) -> str:
    payload = {
        "type": "block_actions", "user": {"id": user, "team_id": "T0001"},
        "api_app_id": "A0001", "token": "fake-verification-token",
        "team": {"id": "T0001", "domain": "nudge-test"},
        "container": {"type": "message", "channel_id": "D0ADMIN", "message_ts": "1.1",
                      "is_ephemeral": True},
        "channel": {"id": "D0ADMIN", "name": "directmessage"},
        "response_url": fake.response_url(), "trigger_id": "1.2.3",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "privacy_forget",
                     "value": value, "action_ts": "1732530001.1"}],
    }  # fmt: skip
    answer = await answer_to(runtime, fake, action_body(payload))
    assert "Automated by Nudge" in str(answer["blocks"])
    return str(answer["text"])


async def test_forget_and_export_in_slack(governed: Runtime) -> None:
    person = PersonIn(email="ana@globex.example", name="Ana Marquez-Silva")
    item = ActivityIn(source="test", external_id="m1", kind="email", direction="inbound",
                      occurred_at=NOW - timedelta(hours=3), people=(person,),
                      rep_email=REP.email, subject="Pricing")  # fmt: skip
    assert await capture(governed, item) == "stored"
    async with FakeSlackApi() as fake:
        assert "Only admins" in await _ask(
            governed, fake, REP.slack_id, "export ana@globex.example"
        )
        held = await _ask(governed, fake, ADMIN, "export ana@globex.example")
        assert "contacts: 1" in held
        assert "Usage" in await _ask(governed, fake, ADMIN, "export nobody")
        refused = await _press(governed, fake, REP.slack_id, FORGET_CONFIRM, "ana@globex.example")
        assert "Only admins" in refused
        assert "Nothing was erased" in await _press(governed, fake, ADMIN, FORGET_CANCEL, "cancel")
        done = await _press(governed, fake, ADMIN, FORGET_CONFIRM, "ana@globex.example")
    assert "Erased: 1 contact record(s)" in done
    async with unit_of_work(governed.sessions) as session:
        left = (await session.exec(select(ContactIdentity))).all()
        trail = await list_audit(session=session, query=AuditFilter(action="privacy"))
    assert left == []
    assert [(r.action, r.actor) for r in trail] == [
        ("privacy.erased", f"slack:{ADMIN}"),
        ("privacy.exported", f"slack:{ADMIN}"),
    ]


async def test_a_granted_role_outlives_a_restart(
    governed: Runtime, database_url: str, app_config: AppConfig
) -> None:
    async with unit_of_work(governed.sessions) as session:
        await grant_role(
            session=session, workspace_id=governed.workspace_id, actor=f"slack:{ADMIN}",
            slack_user_id=REP.slack_id, role="manager", config=governed.config.crm,
        )  # fmt: skip
    restarted = await open_runtime(make_settings(database_url), governed.config, clock=lambda: NOW)
    try:
        assert await _role(restarted, REP.slack_id) == "manager"
        assert await _role(restarted, ADMIN) == "admin"
    finally:
        await close_runtime(restarted)
