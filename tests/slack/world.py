"""A small sales world captured through the product, and signed Slack requests to query it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import select

from bot.flows import capture
from bot.runtime import Runtime
from handlers.mail_capture import email_input
from models.config import TeamMember
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.hygiene import HygieneIssue
from models.services.deals import upsert_deal
from models.workspace import User
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.fakes.slack_api import FakeSlackApi
from tests.mail_factory import eager_thread, message
from tests.slack_requests import answer_to, bolt_for, dispatch_signed
from tests.slack_signing import (
    DEFAULT_TRIGGER_ID,
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    action_body,
    command_body,
    event_body,
)

REP2 = TeamMember(slack_id="U0REP02", email=f"sam.ortiz@{INTERNAL_DOMAIN}", name="Sam Ortiz")
MANAGER = TeamMember(
    slack_id="U0MGR01", email=f"morgan.lee@{INTERNAL_DOMAIN}", name="Morgan Lee", role="manager"
)
ADMIN = TeamMember(slack_id="U0ADM01", email=f"alex.kim@{INTERNAL_DOMAIN}", name="Alex Kim",
                   role="admin")  # fmt: skip
OUTSIDER = "U0GUEST1"
HOSTILE_NAME = "<!channel> Mallory"
HOSTILE_SUBJECT = "<!here> urgent <@U0ADM01>"


@dataclass(frozen=True, slots=True)
class World:
    """Ids of what was captured."""

    ana: int
    mallory: int
    bob: int
    globex_deal: int
    initech_deal: int


async def _contact_id(runtime: Runtime, email: str) -> int:
    async with unit_of_work(runtime.sessions) as session:
        query = select(ContactIdentity.contact_id).where(ContactIdentity.value == email)
        return (await session.exec(query)).one()


async def _user_id(runtime: Runtime, slack_id: str) -> int:
    async with unit_of_work(runtime.sessions) as session:
        query = select(User.id).where(User.slack_user_id == slack_id)
        found = (await session.exec(query)).one()
        assert found is not None
        return found


async def _mail(runtime: Runtime, raw: bytes) -> None:
    await capture(runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))


async def build_world(runtime: Runtime) -> World:
    """Dana's eager lead Ana and a hostile sender; Sam's lead Bob; a deal each; one data issue."""
    for raw in eager_thread((REP.name, REP.email), start=NOW - timedelta(days=3)):
        await _mail(runtime, raw)
    await _mail(runtime, message(
        message_id="hostile-1@globex.example", sender=(HOSTILE_NAME, "mallory@globex.example"),
        to=(REP.name, REP.email), sent_at=NOW - timedelta(days=1), subject=HOSTILE_SUBJECT,
        body="Please call me back about pricing.",
    ))  # fmt: skip
    await _mail(runtime, message(
        message_id="bob-1@initech.example", sender=("Bob Stone", "bob@initech.example"),
        to=(REP2.name, REP2.email), sent_at=NOW - timedelta(days=2),
        subject="Initech pilot", body="Can we start the pilot next week?",
    ))  # fmt: skip
    ana = await _contact_id(runtime, "ana.silva@globex.example")
    mallory = await _contact_id(runtime, "mallory@globex.example")
    bob = await _contact_id(runtime, "bob@initech.example")
    dana, sam = await _user_id(runtime, REP.slack_id), await _user_id(runtime, REP2.slack_id)
    async with unit_of_work(runtime.sessions) as session:
        contacts = {c.id: c for c in (await session.exec(select(Contact))).all()}
        globex = await upsert_deal(
            session=session, workspace_id=runtime.workspace_id, external_id="D-1",
            name="Globex expansion", account_id=contacts[ana].account_id, contact_id=ana,
            owner_id=dana, stage="Proposal", amount=48000.0, created_at=NOW - timedelta(days=3),
            actor="test",
        )  # fmt: skip
        initech = await upsert_deal(
            session=session, workspace_id=runtime.workspace_id, external_id="D-2",
            name="Initech pilot", account_id=contacts[bob].account_id, contact_id=bob,
            owner_id=sam, stage="Discovery", amount=12000.0, created_at=NOW - timedelta(days=2),
            actor="test",
        )  # fmt: skip
        session.add(HygieneIssue(
            workspace_id=runtime.workspace_id, rule="missing_phone", entity_type="contact",
            entity_id=mallory, owner_id=dana, message=f"{HOSTILE_NAME} has no phone number",
            opened_at=NOW - timedelta(hours=5),
        ))  # fmt: skip
    assert globex.id is not None
    assert initech.id is not None
    return World(ana, mallory, bob, globex.id, initech.id)


async def ask(
    runtime: Runtime, fake: FakeSlackApi, command: str, text: str, *, user: str = REP.slack_id
) -> dict[str, Any]:
    """Send a signed slash command; returns what was answered through response_url."""
    body = command_body(command, text, user_id=user, response_url=fake.response_url())
    return await answer_to(runtime, fake, body)


async def press(
    runtime: Runtime,
    fake: FakeSlackApi,
    action_id: str,
    value: str,
    *,
    user: str = REP.slack_id,
    container: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Press a button (in a private message by default, or in a view given its ``container``).

    Returns what was answered through response_url; None for a button in a view.
    """
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "fake-verification-token",
        "container": container
        or {"type": "message", "message_ts": "1.000001", "channel_id": "D0001",
            "is_ephemeral": True},
        "trigger_id": DEFAULT_TRIGGER_ID,
        "team": {"id": "T0001", "domain": "nudge-test"},
        "actions": [{"action_id": action_id, "value": value, "type": "button",
                     "block_id": "b1", "action_ts": "1732530200.000300"}],
    }  # fmt: skip
    if (container or {}).get("type") == "view":
        await dispatch_signed(bolt_for(runtime, fake), action_body(payload), FORM_CONTENT_TYPE)
        return None
    payload["response_url"] = fake.response_url()
    return await answer_to(runtime, fake, action_body(payload))


async def open_home(runtime: Runtime, fake: FakeSlackApi, user: str, event_id: str) -> None:
    """Send ``app_home_opened`` for the Home tab."""
    event = {"type": "app_home_opened", "user": user, "channel": "D0001", "tab": "home",
             "event_ts": "1732530000.000100"}  # fmt: skip
    await dispatch_signed(
        bolt_for(runtime, fake), event_body(event, event_id=event_id), JSON_CONTENT_TYPE
    )
