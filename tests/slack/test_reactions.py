"""Reactions as Slack delivers them (signed Events API requests to the real Bolt app): one on a
message that is not a lead nudge teaches nothing; one taken back off a nudge is unlearned and
the reversal is told in the nudge's thread."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.flows import capture
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.mail_capture import email_input
from models.db import unit_of_work
from models.learning import LearningLogEntry
from models.nudge import SlackEventReceipt
from tests.conftest import INTERNAL_DOMAIN, NOW, REP, make_settings
from tests.fakes.slack_api import FakeSlackApi, SlackCall
from tests.mail_factory import eager_thread
from tests.nudge_world import make_poster, posts
from tests.slack_requests import bolt_for, dispatch_signed
from tests.slack_signing import JSON_CONTENT_TYPE, event_body

_CHANGE = re.compile(r"score (\d+) → (\d+) \(([+-]\d+)\)")


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake, so the poster posts there."""
    return make_settings(database_url, slack_api_url=fake.base_url)


async def _posted_nudge(runtime: Runtime, fake: FakeSlackApi) -> SlackCall:
    """Ana's eager thread, captured: the hot-lead nudge about her, posted."""
    for raw in eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2)):
        await capture(runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))
    assert await make_poster(runtime).run_once() == 1
    (call,) = posts(fake)
    return call


async def _react(
    runtime: Runtime, fake: FakeSlackApi, kind: str, channel: str, ts: str, event_id: str
) -> None:
    """Deliver a 👍 added or removed, and wait until Nudge has handled it."""
    event = {"type": kind, "user": REP.slack_id, "reaction": "+1", "item_user": "U0BOT",
             "item": {"type": "message", "channel": channel, "ts": ts},
             "event_ts": "1732530100.000200"}  # fmt: skip
    await dispatch_signed(bolt_for(runtime, fake), event_body(event, event_id=event_id),
                          JSON_CONTENT_TYPE)  # fmt: skip
    async with asyncio.timeout(5):
        while not await _handled(runtime, event_id):  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # the receipt is written with the event's effect


async def _handled(runtime: Runtime, event_id: str) -> bool:
    async with unit_of_work(runtime.sessions) as session:
        query = select(SlackEventReceipt.id).where(SlackEventReceipt.event_id == event_id)
        return (await session.exec(query)).first() is not None


async def _learning_log(runtime: Runtime) -> list[tuple[str, bool, float]]:
    async with unit_of_work(runtime.sessions) as session:
        rows = await session.exec(select(LearningLogEntry).order_by(col(LearningLogEntry.id)))
        return [(row.source, row.label, row.weight) for row in rows.all()]


@pytest.mark.parametrize("elsewhere", ["a person's message", "another channel"])
async def test_a_reaction_on_a_message_that_is_no_nudge_teaches_nothing(
    runtime: Runtime, fake: FakeSlackApi, elsewhere: str
) -> None:
    nudge = await _posted_nudge(runtime, fake)
    assert nudge.answer is not None
    channel, ts = nudge.answer["channel"], nudge.answer["ts"]
    if elsewhere == "another channel":
        channel = "C0OTHER"  # the nudge's timestamp, but not its channel
    else:
        ts = "1732529999.000001"  # the nudge's channel, but a person's message in it
    version = runtime.scorer.version

    await _react(runtime, fake, "reaction_added", channel, ts, event_id="EvNotANudge")

    assert await _learning_log(runtime) == []
    assert runtime.scorer.version == version
    assert await make_poster(runtime).run_once() == 0
    assert len(posts(fake)) == 1


async def test_a_reaction_taken_back_is_unlearned_and_told_in_the_thread(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    nudge = await _posted_nudge(runtime, fake)
    assert nudge.answer is not None
    channel, ts = nudge.answer["channel"], nudge.answer["ts"]
    await _react(runtime, fake, "reaction_added", channel, ts, event_id="EvAdded")
    assert await make_poster(runtime).run_once() == 1

    await _react(runtime, fake, "reaction_removed", channel, ts, event_id="EvRemoved")
    assert await make_poster(runtime).run_once() == 1

    assert await _learning_log(runtime) == [("reaction", True, 0.5), ("reversal", True, -0.5)]
    learned, reversed_ = posts(fake)[1:]
    assert (learned.params["thread_ts"], reversed_.params["thread_ts"]) == (ts, ts)
    assert reversed_.params["channel"] == channel
    assert learned.params["text"].startswith(f"Learned from <@{REP.slack_id}>'s :+1:")
    assert reversed_.params["text"].startswith(f"Took back <@{REP.slack_id}>'s :+1: (right/hot)")
    taught, untaught = _change(learned), _change(reversed_)
    assert taught[2] >= 0 >= untaught[2]
    assert untaught[0] == taught[1], "the reversal starts from the score the lesson left"


def _change(reply: SlackCall) -> tuple[int, int, int]:
    """Score before, after, and the change a feedback reply states (checked to add up)."""
    change = _CHANGE.search(reply.params["text"])
    assert change is not None, reply.params["text"]
    before, after, delta = (int(part) for part in change.groups())
    assert after - before == delta
    return before, after, delta
