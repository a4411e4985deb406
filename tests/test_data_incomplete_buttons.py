"""The data-incomplete nudge carries Fix data, Snooze 1 day / 1 week and (about a contact) Open
profile; Snooze and Open profile are served by the listeners of every nudge. Posted by the real
poster to the fake Slack Web API, pressed as signed ``block_actions`` through the real Bolt app.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from sqlmodel import select

from bot.runtime import Runtime
from bot.settings import Settings
from models.db import unit_of_work
from models.nudge import Snooze
from tests.conftest import NOW, make_settings
from tests.fakes.slack_api import FakeSlackApi, SlackCall
from tests.hygiene_world import add_contact, add_deal, check, make_world, with_rules
from tests.nudge_world import make_poster, nudge_id, outbox, posts
from tests.test_nudge_actions import action_ids, dispatch, press, until_noted


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake."""
    return make_settings(database_url, slack_api_url=fake.base_url)


def _button(call: SlackCall, action_id: str) -> dict[str, Any]:
    blocks = call.params["blocks"]
    return next(e for b in blocks if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == action_id)  # fmt: skip


async def _posted(runtime: Runtime, fake: FakeSlackApi) -> tuple[SlackCall, SlackCall]:
    """A contact without an email and a deal in Negotiation without a contact, nudged and
    posted; Slack's record of the two messages (contact first)."""
    world = await make_world(runtime)
    with_rules(runtime, {"rule": "contact_details", "required": ["email"]},
               {"rule": "required_fields", "stages": {"Negotiation": ["contact"]}})  # fmt: skip
    bo = await add_contact(world, "Bo Lee", phone="+14155550100")
    deal = await add_deal(world, "Globex renewal", stage="Negotiation")
    await check(world, contacts=(bo,))
    await check(world, deals=(deal,))
    assert await make_poster(runtime).run_once(now=NOW) == 2
    contact_call, deal_call = posts(fake)
    return contact_call, deal_call


async def test_the_nudge_has_snooze_and_open_profile_beside_fix_data(
    runtime: Runtime, fake: FakeSlackApi, bolt: AsyncApp
) -> None:
    about_contact, about_deal = await _posted(runtime, fake)
    contact_nudge = (await outbox(runtime))[nudge_id(about_contact)]
    assert action_ids(about_contact.params["blocks"]) == [
        "fix_data", "nudge_snooze_day", "nudge_snooze_week", "open_profile"
    ]  # fmt: skip
    assert action_ids(about_deal.params["blocks"]) == [
        "fix_data", "nudge_snooze_day", "nudge_snooze_week"
    ]  # fmt: skip
    assert _button(about_contact, "open_profile")["value"] == str(contact_nudge.contact_id)
    assert _button(about_contact, "nudge_snooze_week")["value"] == str(contact_nudge.id)

    assert await dispatch(bolt, press(about_contact, "open_profile", fake)) == 200
    (profile,) = await fake.wait_for("response_url")
    assert "*Bo Lee*" in json.dumps(profile.params["blocks"], ensure_ascii=False)
    assert profile.params["response_type"] == "ephemeral"


async def test_snooze_on_the_nudge_snoozes_the_contact_and_says_so(
    runtime: Runtime, fake: FakeSlackApi, bolt: AsyncApp
) -> None:
    about_contact, _ = await _posted(runtime, fake)
    nudge = (await outbox(runtime))[nudge_id(about_contact)]

    assert await dispatch(bolt, press(about_contact, "nudge_snooze_week", fake)) == 200
    await until_noted(runtime, nudge, 1)
    async with unit_of_work(runtime.sessions) as session:
        (snooze,) = (await session.exec(select(Snooze))).all()
    assert (snooze.subject, snooze.until) == (
        f"contact:{nudge.contact_id}",
        NOW + timedelta(days=7),
    )

    assert await make_poster(runtime).run_once(now=NOW) == 0
    (update,) = fake.calls_to("chat.update")
    assert about_contact.answer is not None
    assert update.params["ts"] == about_contact.answer["ts"]
    shown = json.dumps(update.params["blocks"], ensure_ascii=False)
    assert "Snoozed by" in shown
    assert "until Nov 27, 15:00 UTC" in shown
    assert action_ids(update.params["blocks"])[0] == "fix_data"
