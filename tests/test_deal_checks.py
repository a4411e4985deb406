"""Stale-deal and meeting-prep nudges: found by the periodic check, once per state of their facts,
threaded when the facts change, snoozable, and safe to render. Real capture and deal services,
real poster, the fake Slack Web API over HTTP.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.deal_checks import check_deal_nudges, recheck_deals
from bot.flows import capture
from bot.runtime import Runtime
from bot.settings import Settings
from models.contact import Contact
from models.db import unit_of_work
from models.hygiene import HygieneIssue
from models.nudge import Nudge
from models.services.deals import upsert_deal
from models.services.inputs import ActivityIn, PersonIn
from models.services.nudge_actions import snooze_nudge
from models.workspace import User
from tests.conftest import NOW, REP, make_settings
from tests.fakes.slack_api import FakeSlackApi
from tests.nudge_world import RAW_MARKUP, assert_disclosed, make_poster, posts, strings

LEAD = PersonIn(email="ana@globex.example", name="Ana Silva", title="VP of Sales")
# NOW is 10:00 in New York on Nov 20; "tomorrow" there is Nov 21, until 05:00 UTC Nov 22
TOMORROW_EVENING_NY = datetime.fromisoformat("2026-11-22T02:00:00+00:00")
TONIGHT_NY = datetime.fromisoformat("2026-11-21T03:00:00+00:00")


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake."""
    return make_settings(database_url, slack_api_url=fake.base_url)


def at(runtime: Runtime, moment: datetime) -> None:
    """Move the runtime's clock."""
    runtime.clock = lambda: moment


async def activity(
    runtime: Runtime, key: str, when: datetime, *, kind: str = "email", **extra: Any
) -> None:
    """An activity with the lead, captured through the one ingestion path."""
    item = ActivityIn(source="test", external_id=key, kind=kind, occurred_at=when, people=(LEAD,),
                      direction="in", rep_email=REP.email, **extra)  # fmt: skip
    assert await capture(runtime, item) == "stored"


async def open_deal(runtime: Runtime, name: str = "Globex renewal") -> tuple[int, int]:
    """An open deal owned by Dana with the lead on it, opened 30 days ago; (deal id, contact id)."""
    async with unit_of_work(runtime.sessions) as session:
        contact = (await session.exec(select(Contact).where(Contact.name == LEAD.name))).one()
        owner = (await session.exec(select(User).where(User.slack_user_id == REP.slack_id))).one()
        deal = await upsert_deal(
            session=session, workspace_id=runtime.workspace_id, external_id=f"crm-{name}",
            name=name, account_id=contact.account_id, contact_id=contact.id, owner_id=owner.id,
            stage="Negotiation", amount=48000.0, created_at=NOW - timedelta(days=30),
            actor="test",
        )  # fmt: skip
        assert deal.id is not None
        assert contact.id is not None
        return deal.id, contact.id


async def deal_nudges(runtime: Runtime, cause: str) -> list[Nudge]:
    async with unit_of_work(runtime.sessions) as session:
        query = select(Nudge).where(Nudge.cause == cause).order_by(col(Nudge.id))
        return list((await session.exec(query)).all())


async def test_a_stale_deal_is_nudged_once_then_again_only_after_a_change(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """20 idle days: one nudge; checks in the same or a later hour add nothing; after new
    activity and another idle stretch, a second nudge goes in the first one's thread."""
    await activity(runtime, "m1", NOW - timedelta(days=20))
    deal_id, _contact = await open_deal(runtime, name="<!channel> Globex & co")

    assert await check_deal_nudges(runtime) == 1
    assert await check_deal_nudges(runtime) == 0, "claimed once per period"
    assert await recheck_deals(runtime, [deal_id]) == 0, "same facts, told already"
    at(runtime, NOW + timedelta(hours=1))
    assert await check_deal_nudges(runtime) == 0
    (first,) = await deal_nudges(runtime, "stale_deal")
    assert (first.deal_id, first.payload["idle_days"], first.channel) == (deal_id, 20, REP.slack_id)

    assert await make_poster(runtime).run_once(now=NOW) == 1
    (call,) = posts(fake)
    assert_disclosed(call)
    for shown in (call.params["text"], *strings(call.params["blocks"])):
        assert not [raw for raw in RAW_MARKUP if raw in shown], shown
    assert "&lt;!channel&gt; Globex &amp; co" in json.dumps(call.params["blocks"])

    await activity(runtime, "m2", NOW)
    assert await recheck_deals(runtime, [deal_id]) == 0, "no longer stale"
    at(runtime, NOW + timedelta(days=15))
    assert await check_deal_nudges(runtime) == 1
    second = (await deal_nudges(runtime, "stale_deal"))[-1]
    assert second.parent_id == first.id
    assert await make_poster(runtime).run_once(now=NOW + timedelta(days=15)) == 1
    assert call.answer is not None
    assert posts(fake)[-1].params["thread_ts"] == call.answer["ts"]


async def test_a_meeting_tomorrow_with_an_unprepared_deal_is_nudged_once_per_state(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """Tomorrow in New York (though the day after in UTC); no next step agreed: one nudge.
    A data problem opening on the deal is news: threaded. A meeting tonight is not tomorrow."""
    await activity(runtime, "m1", NOW - timedelta(days=2))
    await activity(runtime, "meet-1", TOMORROW_EVENING_NY, kind="meeting",
                   subject="Pricing review <!here>")  # fmt: skip
    await activity(runtime, "meet-0", TONIGHT_NY, kind="meeting", subject="Dinner")
    deal_id, _contact = await open_deal(runtime)

    assert await check_deal_nudges(runtime) == 1
    (prep,) = await deal_nudges(runtime, "meeting_prep")
    assert prep.deal_id == deal_id
    assert (prep.payload["no_next_step"], prep.payload["stale"], prep.payload["issues"]) == (
        True, False, []
    )  # fmt: skip
    at(runtime, NOW + timedelta(hours=1))
    assert await check_deal_nudges(runtime) == 0

    async with unit_of_work(runtime.sessions) as session:
        issue = HygieneIssue(workspace_id=runtime.workspace_id, rule="close_date_past",
                             entity_type="deal", entity_id=deal_id,
                             message="Close date is in the past <@U999>")  # fmt: skip
        session.add(issue)
    assert await recheck_deals(runtime, [deal_id]) == 1
    update = (await deal_nudges(runtime, "meeting_prep"))[-1]
    assert update.parent_id == prep.id
    assert [i["id"] for i in update.payload["issues"]] == [issue.id]

    assert await make_poster(runtime).run_once(now=NOW) == 2
    first, threaded = posts(fake)
    assert first.answer is not None
    assert threaded.params["thread_ts"] == first.answer["ts"]
    shown = "\n".join(strings(threaded.params["blocks"]))
    assert "No next step agreed" in shown
    assert "Close date is in the past &lt;@U999&gt;" in shown
    assert "Sat Nov 21, 21:00 (EST)" in shown
    fix = [e for b in threaded.params["blocks"] if b["type"] == "actions" for e in b["elements"]
           if e["action_id"] == "fix_data"]  # fmt: skip
    assert [e["value"] for e in fix] == [str(issue.id)]
    for call in posts(fake):
        assert_disclosed(call)
        assert "<!here>" not in json.dumps(call.params)


async def test_a_prepared_deal_gets_no_meeting_nudge(runtime: Runtime) -> None:
    """A next step agreed on yesterday's call, recent activity, no open issue: nothing to say."""
    signals = {"transcript_signals": {"next_steps": {"count": 1, "keywords": ["follow up"]}}}
    await activity(runtime, "call-1", NOW - timedelta(days=1), kind="call", facts=signals)
    await activity(runtime, "meet-1", TOMORROW_EVENING_NY, kind="meeting")
    await open_deal(runtime)

    assert await check_deal_nudges(runtime) == 0
    assert await deal_nudges(runtime, "meeting_prep") == []


async def test_a_snoozed_deal_is_nudged_again_once_the_snooze_is_over(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """The rep snoozes the deal for a day from its stale nudge before it is sent: set aside,
    and queued again by the first check after the snooze if the deal is still stale."""
    await activity(runtime, "m1", NOW - timedelta(days=20))
    deal_id, _contact = await open_deal(runtime)
    assert await check_deal_nudges(runtime) == 1
    (nudge,) = await deal_nudges(runtime, "stale_deal")
    async with unit_of_work(runtime.sessions) as session:
        result = await snooze_nudge(session=session, workspace_id=runtime.workspace_id,
                                    nudge_id=nudge.id or 0, slack_user_id=REP.slack_id, days=1,
                                    now=NOW)  # fmt: skip
    assert result.outcome == "done"

    assert await make_poster(runtime).run_once(now=NOW + timedelta(hours=1)) == 0
    assert (await deal_nudges(runtime, "stale_deal"))[0].state == "snoozed"
    at(runtime, NOW + timedelta(hours=2))
    assert await check_deal_nudges(runtime) == 0, "still snoozed"

    at(runtime, NOW + timedelta(days=1, hours=1))
    assert await check_deal_nudges(runtime) == 1
    assert await make_poster(runtime).run_once(now=NOW + timedelta(days=1, hours=1)) == 1
    (call,) = posts(fake)
    assert call.params["metadata"]["event_payload"]["nudge_id"] == nudge.id
    assert len(await deal_nudges(runtime, "stale_deal")) == 1
    assert deal_id == nudge.deal_id
