"""From Slack: the Fix data button opens a modal; its submission is checked, saved, and closes
the issue with a threaded line; ``/crm rules`` lists the rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlmodel import select

from bot.config import AppConfig
from bot.outbox import OutboxPoster
from bot.runtime import Runtime
from bot.serve import connect_slack
from models.activity import Activity
from models.contact import ContactIdentity
from models.db import unit_of_work
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue
from tests.conftest import NOW, REP, SIGNING_SECRET
from tests.fakes.slack_api import APP_ID, TEAM_ID, FakeSlackApi
from tests.hygiene_world import (
    World,
    add_contact,
    add_deal,
    all_issues,
    check,
    make_world,
    with_rules,
)
from tests.slack_signing import (
    DEFAULT_TRIGGER_ID,
    FORM_CONTENT_TYPE,
    VERIFICATION_TOKEN,
    action_body,
    command_body,
    signed_headers,
)


@dataclass
class Slack:
    """The fake Slack, the Bolt app and the poster of one running Nudge."""

    fake: FakeSlackApi
    bolt: AsyncApp
    poster: OutboxPoster
    world: World


@pytest.fixture
async def slack(runtime: Runtime) -> AsyncIterator[Slack]:
    async with FakeSlackApi() as fake:
        runtime.settings = runtime.settings.model_copy(update={"slack_api_url": fake.base_url})
        bolt, poster = await connect_slack(runtime)
        poster.pace_s = 0  # a fix's threaded line follows its nudge at once
        yield Slack(fake, bolt, poster, await make_world(runtime))


async def _send(slack: Slack, body: str) -> tuple[int, str]:
    headers: dict[str, str | Sequence[str]] = dict(
        signed_headers(body, SIGNING_SECRET, content_type=FORM_CONTENT_TYPE)
    )
    response = await slack.bolt.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    return response.status, response.body


def _common(slack: Slack, user: str = REP.slack_id) -> dict[str, Any]:
    return {
        "user": {"id": user, "username": "dana", "name": "dana", "team_id": TEAM_ID},
        "api_app_id": APP_ID, "token": VERIFICATION_TOKEN, "trigger_id": DEFAULT_TRIGGER_ID,
        "team": {"id": TEAM_ID, "domain": "nudge-test"}, "enterprise": None,
        "is_enterprise_install": False,
    }  # fmt: skip


async def _posted_nudge(slack: Slack) -> dict[str, Any]:
    """Send the outbox and return the message Slack shows for the data-incomplete nudge."""
    assert await slack.poster.run_once() >= 1
    posted = await slack.fake.wait_for("chat.postMessage")
    answer = posted[-1].answer
    assert answer is not None
    return dict(answer)


async def _press_fix(slack: Slack, posted: dict[str, Any]) -> dict[str, Any]:
    """Press Fix data on the posted message; returns the modal Slack opened."""
    message = posted["message"]
    block = next(b for b in message["blocks"] if b["type"] == "actions")
    button = block["elements"][0]
    payload = {
        "type": "block_actions", **_common(slack),
        "container": {"type": "message", "message_ts": posted["ts"],
                      "channel_id": posted["channel"], "is_ephemeral": False},
        "channel": {"id": posted["channel"], "name": "directmessage"}, "message": message,
        "state": {"values": {}}, "response_url": slack.fake.response_url(),
        "actions": [{**button, "block_id": block["block_id"], "action_ts": "1732530200.000300"}],
    }  # fmt: skip
    seen = len(slack.fake.calls_to("views.open"))
    status, _ = await _send(slack, action_body(payload))
    assert status == 200
    opened = (await slack.fake.wait_for("views.open", count=seen + 1))[-1]
    assert opened.params["trigger_id"] == DEFAULT_TRIGGER_ID
    assert opened.answer is not None
    return dict(opened.answer["view"])


async def _submit(slack: Slack, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Submit the modal with these input values; returns Bolt's answer (empty when it closes)."""
    state = {"values": {block: {"value": value} for block, value in values.items()}}
    payload = {"type": "view_submission", **_common(slack), "view": {**view, "state": state},
               "response_urls": []}  # fmt: skip
    status, body = await _send(slack, action_body(payload))
    assert status == 200
    return dict(json.loads(body)) if body else {}


async def test_fix_data_links_a_contact_and_closes_the_issue(slack: Slack) -> None:
    world = slack.world
    ana = await add_contact(world, "Ana Silva", email="ana@globex.example")
    deal = await add_deal(world, "Globex <renewal>", stage="Negotiation")
    await check(world, deals=(deal,))
    posted = await _posted_nudge(slack)
    assert "Globex &lt;renewal&gt;" in posted["message"]["text"]
    assert "no contact linked" in posted["message"]["text"]

    view = await _press_fix(slack, posted)
    assert view["callback_id"] == "fix_data"
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert [o["value"] for o in inputs["contact"]["options"]] == [str(ana)]

    refused = await _submit(slack, view, {})
    assert refused["response_action"] == "errors"
    assert "Pick a contact" in refused["errors"]["contact"]
    assert len(await all_issues(world)) == 1

    choice = {"type": "static_select", "selected_option": {"value": str(ana)}}
    assert await _submit(slack, view, {"contact": choice}) == {}
    (issue,) = await all_issues(world)
    assert (issue.resolution, issue.closed_by) == ("fixed", f"slack:{REP.slack_id}")
    async with unit_of_work(world.runtime.sessions) as session:
        links = (await session.exec(select(DealContact).where(DealContact.deal_id == deal))).all()
    assert [link.contact_id for link in links] == [ana]

    # The fix is told in the nudge's thread; a second press finds nothing to fix.
    assert await slack.poster.run_once() == 1
    reply = (await slack.fake.wait_for("chat.postMessage", count=2))[1]
    assert reply.params["thread_ts"] == posted["ts"]
    assert reply.params["text"].startswith(f"✅ Fixed by <@{REP.slack_id}>")
    await _press_fix_on_closed(slack, posted)


async def _press_fix_on_closed(slack: Slack, posted: dict[str, Any]) -> None:
    message = posted["message"]
    block = next(b for b in message["blocks"] if b["type"] == "actions")
    payload = {
        "type": "block_actions", **_common(slack), "message": message,
        "container": {"type": "message", "message_ts": posted["ts"],
                      "channel_id": posted["channel"]},
        "channel": {"id": posted["channel"]}, "response_url": slack.fake.response_url(),
        "actions": [{**block["elements"][0], "block_id": block["block_id"],
                     "action_ts": "1732530300.000100"}],
    }  # fmt: skip
    status, _ = await _send(slack, action_body(payload))
    assert status == 200
    answer = (await slack.fake.wait_for("response_url"))[-1].params
    assert "already fixed" in str(answer["text"])
    assert len(slack.fake.calls_to("views.open")) == 1


async def test_fix_data_replaces_an_invalid_phone(slack: Slack) -> None:
    world = slack.world
    with_rules(world.runtime, {"rule": "contact_details", "required": ["email"]})
    bo = await add_contact(world, "Bo Lee", email="bo@globex.example", phone="+1123")
    await check(world, contacts=(bo,))
    view = await _press_fix(slack, await _posted_nudge(slack))
    wrong = await _submit(slack, view, {"phone": {"type": "plain_text_input", "value": "12"}})
    assert "not a valid phone number" in wrong["errors"]["phone"]
    right = {"type": "plain_text_input", "value": "(415) 555-0100"}
    assert await _submit(slack, view, {"phone": right}) == {}
    async with unit_of_work(world.runtime.sessions) as session:
        phones = (
            await session.exec(select(ContactIdentity.value).where(ContactIdentity.kind == "phone"))
        ).all()
        issue = (await session.exec(select(HygieneIssue))).one()
    assert phones == ["+14155550100"]
    assert issue.resolution == "fixed"


async def test_an_amount_kept_as_it_is_is_not_flagged_again(slack: Slack) -> None:
    world = slack.world
    with_rules(world.runtime, {"rule": "amount_outlier"})
    deal = await add_deal(world, "Odd", amount=-5)
    await check(world, deals=(deal,))
    view = await _press_fix(slack, await _posted_nudge(slack))
    keep = {"type": "checkboxes", "selected_options": [{"value": "yes"}]}
    assert await _submit(slack, view, {"amount_is_right": keep}) == {}
    again = await check(world, deals=(deal,), now=NOW + timedelta(days=1))
    assert again.opened == []
    (issue,) = await all_issues(world)
    assert issue.resolution == "dismissed"


async def test_crm_rules_lists_the_active_rules(slack: Slack) -> None:
    body = command_body("/crm", "rules", user_id=REP.slack_id,
                        response_url=slack.fake.response_url())  # fmt: skip
    status, _ = await _send(slack, body)
    assert status == 200
    answer = (await slack.fake.wait_for("response_url"))[-1].params
    text = str(answer["text"])
    assert answer["response_type"] == "ephemeral"
    assert "`required_fields` — stages = Negotiation: contact" in text
    assert "`no_activity` — days = 21, applies_to = deal" in text
    assert "`amount_outlier` — threshold = 3.5, min_sample = 20" in text
    assert "Automated by Nudge" in str(answer["blocks"])


async def test_fix_data_logs_a_note_on_a_quiet_deal(slack: Slack) -> None:
    world = slack.world
    with_rules(world.runtime, {"rule": "no_activity", "days": 14})
    ana = await add_contact(world, "Ana", email="ana@globex.example",
                            created=NOW - timedelta(days=30))  # fmt: skip
    deal = await add_deal(world, "Quiet", contacts=(ana,), created=NOW - timedelta(days=30))
    await check(world, deals=(deal,))
    view = await _press_fix(slack, await _posted_nudge(slack))
    blank = await _submit(slack, view, {"note": {"type": "plain_text_input", "value": "  "}})
    assert blank["errors"] == {"note": "Say briefly what happened."}
    note = {"type": "plain_text_input", "value": "Called Ana, pilot starts Monday."}
    assert await _submit(slack, view, {"note": note}) == {}
    assert await _submit(slack, view, {"note": note}) == {}  # Slack retrying: one note only
    async with unit_of_work(world.runtime.sessions) as session:
        notes = (await session.exec(select(Activity).where(Activity.kind == "note"))).all()
    assert [(n.deal_id, n.contact_id, n.body) for n in notes] == [
        (deal, ana, "Called Ana, pilot starts Monday.")
    ]
    (issue,) = await all_issues(world)
    assert issue.resolution == "fixed"


async def test_fix_data_gives_an_unowned_deal_an_owner(slack: Slack) -> None:
    world = slack.world
    crm = with_rules(world.runtime, {"rule": "missing_owner", "applies_to": ["deal"]})
    channel = crm.nudges.model_copy(update={"channel": "C0PIPELINE"})
    world.runtime.config = AppConfig(slack=world.runtime.config.slack,
                                     crm=crm.model_copy(update={"nudges": channel}))  # fmt: skip
    deal = await add_deal(world, "Nobody's", owned=False)
    await check(world, deals=(deal,))
    posted = await _posted_nudge(slack)
    assert posted["channel"] == "C0PIPELINE"
    view = await _press_fix(slack, posted)
    stranger = await _submit(slack, view, {"owner": {"type": "users_select",
                                                     "selected_user": "U0STRANGER"}})  # fmt: skip
    assert "sales team" in stranger["errors"]["owner"]
    rep = {"type": "users_select", "selected_user": REP.slack_id}
    assert await _submit(slack, view, {"owner": rep}) == {}
    async with unit_of_work(world.runtime.sessions) as session:
        row = await session.get(Deal, deal)
    assert row is not None
    assert row.owner_id == world.rep_id


async def test_a_saved_fix_that_still_breaks_the_rule_says_so(slack: Slack) -> None:
    world = slack.world
    with_rules(world.runtime, {"rule": "amount_outlier", "min_sample": 10})
    for n in range(12):
        await add_deal(world, f"Usual {n}", amount=10_000 + 1_000 * n)
    huge = await add_deal(world, "Huge", amount=9_000_000)
    await check(world, deals=(huge,))
    view = await _press_fix(slack, await _posted_nudge(slack))
    answer = await _submit(slack, view, {"amount": {"type": "number_input", "value": "8000000"}})
    assert answer["response_action"] == "update"
    assert "Saved. It is still flagged" in str(answer["view"]["blocks"])
    async with unit_of_work(world.runtime.sessions) as session:
        row = await session.get(Deal, huge)
    assert row is not None
    assert row.amount == 8_000_000  # guardrails, not gates: the change is kept


async def test_namesakes_marked_as_different_people_stay_apart(slack: Slack) -> None:
    world = slack.world
    with_rules(world.runtime, {"rule": "duplicate"})
    first = await add_contact(world, "Sam Lee", email="sam@globex.example")
    second = await add_contact(world, "Sam Lee", email="sam.lee@globex.example")
    await check(world, contacts=(second,))
    view = await _press_fix(slack, await _posted_nudge(slack))
    unticked = await _submit(slack, view, {})
    assert "different people" in unticked["errors"]["dismiss"]
    ticked = {"type": "checkboxes", "selected_options": [{"value": "yes"}]}
    assert await _submit(slack, view, {"dismiss": ticked}) == {}
    again = await check(world, contacts=(first, second), now=NOW + timedelta(days=1))
    assert again.opened == []
    (issue,) = await all_issues(world)
    assert (issue.entity_id, issue.resolution) == (second, "dismissed")


async def test_only_those_who_may_see_the_record_can_fix_it(slack: Slack) -> None:
    deal = await add_deal(slack.world, "Globex rollout", stage="Negotiation")
    await check(slack.world, deals=(deal,))
    posted = await _posted_nudge(slack)
    message = posted["message"]
    block = next(b for b in message["blocks"] if b["type"] == "actions")
    payload = {
        "type": "block_actions", **_common(slack, user="U0STRANGER"),
        "container": {"type": "message", "message_ts": posted["ts"],
                      "channel_id": posted["channel"], "is_ephemeral": False},
        "channel": {"id": posted["channel"], "name": "directmessage"}, "message": message,
        "state": {"values": {}}, "response_url": slack.fake.response_url(),
        "actions": [{**block["elements"][0], "block_id": block["block_id"],
                     "action_ts": "1732530200.000300"}],
    }  # fmt: skip
    status, _ = await _send(slack, action_body(payload))
    assert status == 200
    (answer,) = await slack.fake.wait_for("response_url")
    assert "Only the owner of this record" in answer.params["text"]
    assert slack.fake.calls_to("views.open") == []


async def test_a_contact_created_by_a_fix_is_checked_too(slack: Slack) -> None:
    world = slack.world
    with_rules(
        world.runtime,
        {"rule": "required_fields", "stages": {"Negotiation": ["contact"]}},
        {"rule": "contact_details", "required": ["email", "phone"]},
    )
    deal = await add_deal(world, "Globex renewal", stage="Negotiation")
    await check(world, deals=(deal,))
    view = await _press_fix(slack, await _posted_nudge(slack))

    typed = {"type": "plain_text_input", "value": "new.buyer@globex.example"}
    assert await _submit(slack, view, {"contact_email": typed}) == {}
    issues = {(i.rule, i.entity_type, i.closed_at is None) for i in await all_issues(world)}
    assert issues == {("required_fields", "deal", False), ("contact_details", "contact", True)}
