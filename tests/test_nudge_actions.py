"""Mark contacted and Snooze on a posted nudge: signed Slack button presses through the real Bolt
app, effects in the database, the message updated by the poster through the fake Slack API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlmodel import select

from bot.runtime import Runtime
from bot.settings import Settings
from models.activity import Activity
from models.audit import AuditEntry
from models.contact import Contact
from models.db import unit_of_work
from models.nudge import Nudge, Snooze
from tests.conftest import NOW, REP, SIGNING_SECRET, make_settings
from tests.fakes.slack_api import APP_ID, TEAM_ID, FakeSlackApi, SlackCall
from tests.nudge_world import add_lead, id_of, make_poster, outbox, posts, queue_lead
from tests.slack_signing import (
    DEFAULT_TRIGGER_ID,
    FORM_CONTENT_TYPE,
    VERIFICATION_TOKEN,
    action_body,
    signed_headers,
)


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake."""
    return make_settings(database_url, slack_api_url=fake.base_url)


async def posted_nudge(runtime: Runtime, fake: FakeSlackApi) -> tuple[Nudge, SlackCall]:
    """A hot-lead nudge about Ana Silva, sent by the poster; with Slack's record of it."""
    contact_id = await add_lead(runtime, "Ana Silva")
    nudge = await queue_lead(runtime, contact_id, key="email:1")
    assert await make_poster(runtime).run_once(now=NOW) == 1
    (call,) = posts(fake)
    return nudge, call


def press(
    call: SlackCall, action_id: str, fake: FakeSlackApi, value: str | None = None,
    user: str = REP.slack_id,
) -> str:  # fmt: skip
    """The signed ``block_actions`` body Slack sends when the rep presses a button."""
    assert call.answer is not None
    message = call.answer["message"]
    block_id, element = next(
        (block["block_id"], element)
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    )
    if value is not None:
        element = {**element, "value": value}
    channel = call.answer["channel"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "dana", "name": "dana", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel,
                      "is_ephemeral": False},
        "trigger_id": DEFAULT_TRIGGER_ID,
        "team": {"id": TEAM_ID, "domain": "nudge-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage"},
        "message": message,
        "state": {"values": {}},
        "response_url": fake.response_url(),
        "actions": [{**element, "block_id": block_id, "action_ts": "1732530200.000300"}],
        "unknown_future_field": {"ignored": True},
    }  # fmt: skip
    return action_body(payload)


async def dispatch(bolt: AsyncApp, body: str) -> int:
    headers: dict[str, str | Sequence[str]] = dict(
        signed_headers(body, SIGNING_SECRET, content_type=FORM_CONTENT_TYPE)
    )
    response = await bolt.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    return response.status


async def stored(runtime: Runtime, nudge: Nudge) -> Nudge:
    return (await outbox(runtime))[id_of(nudge)]


async def until_noted(runtime: Runtime, nudge: Nudge, version: int) -> Nudge:
    """Wait (bounded) for the listener, which runs after the ack, to record its note."""
    async with asyncio.timeout(5):
        while (row := await stored(runtime, nudge)).notes_version < version:  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # what changes is a row in the database
    return row


async def contacted_notes(runtime: Runtime) -> list[Activity]:
    async with unit_of_work(runtime.sessions) as session:
        query = select(Activity).where(Activity.source == "slack", Activity.kind == "note")
        return list((await session.exec(query)).all())


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def test_mark_contacted_records_a_note_and_updates_the_message_once(
    runtime: Runtime, fake: FakeSlackApi, bolt: AsyncApp
) -> None:
    """The rep's note is on the lead's timeline; the message says who and when.

    Pressed four times: one note, one update, and a private "already" for the repeats.
    """
    nudge, call = await posted_nudge(runtime, fake)
    assert "open_profile" in action_ids(call.params["blocks"])

    assert await dispatch(bolt, press(call, "nudge_mark_contacted", fake)) == 200
    row = await until_noted(runtime, nudge, 1)
    assert row.notes["contacted"]["by"] == REP.slack_id

    (note,) = await contacted_notes(runtime)
    assert (note.contact_id, note.direction, note.occurred_at) == (nudge.contact_id, "out", NOW)
    async with unit_of_work(runtime.sessions) as session:
        contact = await session.get(Contact, nudge.contact_id)
        assert contact is not None
        assert contact.last_touch_at == NOW

    assert await make_poster(runtime).run_once(now=NOW) == 0
    (update,) = fake.calls_to("chat.update")
    assert call.answer is not None
    assert (update.params["channel"], update.params["ts"]) == (
        call.answer["channel"], call.answer["ts"]
    )  # fmt: skip
    shown = json.dumps(update.params["blocks"], ensure_ascii=False)
    assert f"Marked contacted by <@{REP.slack_id}> on Nov 20, 15:00 UTC" in shown
    assert "nudge_mark_contacted" not in action_ids(update.params["blocks"])
    assert "Automated by Nudge" in json.dumps(update.params["blocks"][-1], ensure_ascii=False)
    (message,) = fake.messages(call.answer["channel"])
    assert message["blocks"] == update.params["blocks"]

    for count in (1, 2, 3):
        assert await dispatch(bolt, press(call, "nudge_mark_contacted", fake)) == 200
        answers = await fake.wait_for("response_url", count)
        assert "Already marked contacted" in answers[-1].params["text"]
    assert len(await contacted_notes(runtime)) == 1
    async with unit_of_work(runtime.sessions) as session:
        audit = select(AuditEntry).where(AuditEntry.action == "nudge.contacted")
        assert len((await session.exec(audit)).all()) == 1
    assert (await stored(runtime, nudge)).notes_version == 1
    await make_poster(runtime).run_once(now=NOW + timedelta(minutes=5))
    assert len(fake.calls_to("chat.update")) == 1


async def test_snooze_sets_aside_nudges_about_the_lead_until_it_ends(
    runtime: Runtime, fake: FakeSlackApi, bolt: AsyncApp
) -> None:
    """Snoozed for a day: the message says until when; a new nudge about the lead is not sent."""
    nudge, call = await posted_nudge(runtime, fake)

    assert await dispatch(bolt, press(call, "nudge_snooze_day", fake)) == 200
    await until_noted(runtime, nudge, 1)
    async with unit_of_work(runtime.sessions) as session:
        (snooze,) = (await session.exec(select(Snooze))).all()
    assert snooze.subject == f"contact:{nudge.contact_id}"
    assert snooze.until == NOW + timedelta(days=1)

    assert nudge.contact_id is not None
    jump = await queue_lead(runtime, nudge.contact_id, key="email:2", score=99, previous=80)
    assert await make_poster(runtime).run_once(now=NOW + timedelta(hours=2)) == 0
    assert (await stored(runtime, jump)).state == "snoozed"
    (update,) = fake.calls_to("chat.update")
    assert "Snoozed by" in json.dumps(update.params["blocks"], ensure_ascii=False)
    assert "until Nov 21, 15:00 UTC" in json.dumps(update.params["blocks"], ensure_ascii=False)

    assert await dispatch(bolt, press(call, "nudge_snooze_day", fake)) == 200
    (answer,) = await fake.wait_for("response_url")
    assert "Already snoozed" in answer.params["text"]

    assert await dispatch(bolt, press(call, "nudge_snooze_week", fake)) == 200
    row = await until_noted(runtime, nudge, 2)
    assert row.notes["snoozed"]["until"] == (NOW + timedelta(days=7)).isoformat()


@pytest.mark.fault
async def test_a_message_update_is_retried_through_slack_errors(
    runtime: Runtime, fake: FakeSlackApi, bolt: AsyncApp
) -> None:
    """``chat.update`` meets 502s: the edit stays due, is retried later, and lands once."""
    nudge, call = await posted_nudge(runtime, fake)
    assert await dispatch(bolt, press(call, "nudge_mark_contacted", fake)) == 200
    await until_noted(runtime, nudge, 1)
    fake.fail("chat.update", status=502, times=2)
    poster = make_poster(runtime)

    await poster.run_once(now=NOW)
    row = await stored(runtime, nudge)
    assert row.edit_due_at is not None
    assert row.edit_due_at > NOW
    assert row.shown_version == 0
    for minutes in (10, 20, 30):
        await poster.run_once(now=NOW + timedelta(minutes=minutes))

    assert len([c for c in fake.calls_to("chat.update") if not c.failed]) == 1
    row = await stored(runtime, nudge)
    assert (row.edit_due_at, row.shown_version) == (None, 1)


async def test_a_button_naming_no_known_nudge_gets_a_clear_private_answer(
    runtime: Runtime, fake: FakeSlackApi, bolt: AsyncApp
) -> None:
    _nudge, call = await posted_nudge(runtime, fake)

    for count, value in enumerate(("not-a-number", "987654"), start=1):
        assert await dispatch(bolt, press(call, "nudge_snooze_week", fake, value=value)) == 200
        answers = await fake.wait_for("response_url", count)
        assert "no longer knows" in answers[-1].params["text"]
        assert answers[-1].params["response_type"] == "ephemeral"
    async with unit_of_work(runtime.sessions) as session:
        assert (await session.exec(select(Snooze))).all() == []


async def test_someone_who_may_not_see_the_lead_cannot_press_its_buttons(
    runtime: Runtime, fake: FakeSlackApi, bolt: AsyncApp
) -> None:
    nudge, call = await posted_nudge(runtime, fake)
    for count, action_id in enumerate(("nudge_mark_contacted", "nudge_snooze_week"), start=1):
        assert await dispatch(bolt, press(call, action_id, fake, user="U0STRANGER")) == 200
        answers = await fake.wait_for("response_url", count)
        assert "Only the owner of this lead" in answers[-1].params["text"]
    assert (await stored(runtime, nudge)).notes == {}
    assert await contacted_notes(runtime) == []
    async with unit_of_work(runtime.sessions) as session:
        assert (await session.exec(select(Snooze))).all() == []
