"""The outbox poster against the fake Slack Web API and a real database.

Nudges are written by the real services (``queue_hot_leads``, ``queue_reply``) and sent by the
real :class:`OutboxPoster` through :func:`create_web_client`, so slack_sdk's own retries run too.
Backoff is driven with ``run_once(now=...)`` and pacing with the poster's ``clock``; the only real
waiting is slack_sdk sleeping between its own retries.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.config import AppConfig
from bot.runtime import Runtime
from bot.settings import Settings
from models.config import NudgeConfig
from models.db import unit_of_work
from models.nudge import Nudge
from models.services.nudges import queue_reply
from models.types import utcnow
from tests.conftest import REP, make_settings
from tests.fakes.slack_api import FakeSlackApi, dm_channel_id
from tests.nudge_world import (
    HOSTILE,
    RAW_MARKUP,
    REP2,
    Clock,
    add_lead,
    answer,
    assert_disclosed,
    failed_posts,
    id_of,
    later,
    make_poster,
    new_lead_nudge,
    nudge_id,
    outbox,
    posted_ids,
    posts,
    queue_lead,
    strings,
)

# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake."""
    return make_settings(database_url, slack_api_url=fake.base_url)


@pytest.fixture
def app_config(app_config: AppConfig) -> AppConfig:
    """The shipped app.yaml with two reps, so nudges go to two DM channels."""
    crm = app_config.crm.model_copy(update={"team": (REP, REP2)})
    return AppConfig(slack=app_config.slack, crm=crm)


# --- the happy path ---------------------------------------------------------------------------


async def test_a_nudge_is_posted_once_and_where_it_went_is_stored(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """One ``chat.postMessage``; channel id and ts kept; state "sent"; a rerun posts nothing."""
    nudge = await new_lead_nudge(runtime, "Ana Silva")
    poster = make_poster(runtime)

    assert await poster.run_once() == 1
    (call,) = posts(fake)
    assert call.params["channel"] == REP.slack_id
    assert nudge_id(call) == nudge.id
    assert "thread_ts" not in call.params
    assert "Ana Silva" in json.dumps(call.params["blocks"])
    assert_disclosed(call)

    stored = (await outbox(runtime))[id_of(nudge)]
    assert stored.state == "sent"
    assert stored.channel_id == answer(call)["channel"] == dm_channel_id(REP.slack_id)
    assert stored.message_ts == answer(call)["ts"]
    assert stored.sent_at is not None
    assert (stored.attempts, stored.last_error) == (0, None)

    assert await poster.run_once() == 0
    assert await poster.run_once(now=later()) == 0
    assert len(fake.calls_to("chat.postMessage")) == 1


# --- outages ----------------------------------------------------------------------------------


@pytest.mark.fault
async def test_rate_limits_and_server_errors_delay_nudges_but_lose_or_double_none(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """429 with Retry-After, then 5xx for a while, then OK: each nudge arrives once, in order.

    slack_sdk retries 429 and 500/503 itself (up to three HTTP attempts a call); 502 reaches
    the poster at once, which keeps the test quick while still going through several rounds.
    """
    a1 = await new_lead_nudge(runtime, "Ana Silva")
    b1 = await new_lead_nudge(runtime, "Bo Chen", owner=REP2.slack_id)
    a2 = await new_lead_nudge(runtime, "Cy Park")
    fake.fail("chat.postMessage", status=429, retry_after=1)
    fake.fail("chat.postMessage", status=500, times=2)
    fake.fail("chat.postMessage", status=502, times=2)
    poster = make_poster(runtime)

    started = time.monotonic()
    assert await poster.run_once() == 0
    assert time.monotonic() - started >= 1.0, "slack_sdk did not wait for Retry-After"
    assert len(failed_posts(fake)) == 4  # 429, 500, 500 for a1; 502 for b1; a2 waits for a1
    rows = await outbox(runtime)
    assert (rows[id_of(a1)].attempts, rows[id_of(a1)].last_error) == (1, "slack 500")
    assert (rows[id_of(b1)].attempts, rows[id_of(b1)].last_error) == (1, "slack 502")
    assert rows[id_of(a2)].attempts == 0
    # a 5xx may come after Slack stored the message: the next attempt looks before posting
    assert [rows[id_of(n)].state for n in (a1, b1, a2)] == ["sending", "sending", "pending"]
    waiting = [rows[id_of(n)].next_attempt_at for n in (a1, b1)]
    assert all(at is not None and at > utcnow() for at in waiting)

    assert await poster.run_once(now=later(1)) == 1  # a1 meets the last 502; b1 goes out
    assert await poster.run_once(now=later(2)) == 2  # Slack is back: a1, then a2
    assert await poster.run_once(now=later(3)) == 0

    assert len(failed_posts(fake)) == 5
    assert sorted(posted_ids(fake)) == sorted(id_of(n) for n in (a1, b1, a2))
    by_channel: dict[str, list[int]] = {}
    for call in posts(fake):
        by_channel.setdefault(call.params["channel"], []).append(nudge_id(call))
    assert by_channel == {REP.slack_id: [a1.id, a2.id], REP2.slack_id: [b1.id]}
    rows = await outbox(runtime)
    assert {row.state for row in rows.values()} == {"sent"}
    assert rows[id_of(a1)].attempts == 2
    assert rows[id_of(a1)].last_error is None


@pytest.mark.fault
async def test_a_nudge_waiting_for_a_retry_is_not_overtaken_in_its_channel(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """While the first nudge of a channel waits out its backoff, the second waits too."""
    first = await new_lead_nudge(runtime, "Ana Silva")
    second = await new_lead_nudge(runtime, "Cy Park")
    fake.fail("chat.postMessage", status=502)
    poster = make_poster(runtime)

    assert await poster.run_once() == 0
    await poster.run_once()  # the next tick of run_forever, well inside the backoff
    await poster.run_once(now=later())

    assert posted_ids(fake) == [first.id, second.id]


@pytest.mark.fault
async def test_a_long_outage_still_loses_nothing(runtime: Runtime, fake: FakeSlackApi) -> None:
    """Twelve rounds of 5xx (a longer outage than the backoff schedule covers) lose no nudge."""
    nudge = await new_lead_nudge(runtime, "Ana Silva")
    fake.fail("chat.postMessage", status=502, times=12)
    poster = make_poster(runtime)

    for step in range(1, 15):
        await poster.run_once(now=later(step))

    assert posted_ids(fake) == [nudge.id]


@pytest.mark.fault
async def test_a_nudge_that_cannot_be_sent_does_not_make_others_post_twice(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """One unrenderable row (a cause this version does not know) must not repeat its neighbours.

    run_forever logs an error and polls again, as in production.
    """
    good = await new_lead_nudge(runtime, "Ana Silva")
    async with unit_of_work(runtime.sessions) as session:
        session.add(
            Nudge(
                workspace_id=runtime.workspace_id,
                cause="weekly_digest",
                dedupe_key="digest:2026-W48",
                channel=REP2.slack_id,
                payload={},
            )
        )
    poster = make_poster(runtime)
    stop = asyncio.Event()
    loop = asyncio.create_task(poster.run_forever(stop, interval_s=0.05))
    try:
        await fake.wait_for("chat.postMessage")
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await loop

    assert posted_ids(fake) == [good.id]
    assert (await outbox(runtime))[id_of(good)].state == "sent"


@pytest.mark.fault
async def test_a_permanent_error_fails_the_nudge_without_blocking_other_channels(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """``channel_not_found`` fails that nudge at once; other channels and later nudges go out."""
    broken = await new_lead_nudge(runtime, "Ana Silva")
    other = await new_lead_nudge(runtime, "Bo Chen", owner=REP2.slack_id)
    after = await new_lead_nudge(runtime, "Cy Park")
    fake.fail("chat.postMessage", status=200, error="channel_not_found")
    poster = make_poster(runtime)

    assert await poster.run_once() == 2
    assert posted_ids(fake) == [other.id, after.id]
    rows = await outbox(runtime)
    assert rows[id_of(broken)].state == "failed"
    assert rows[id_of(broken)].attempts == 1
    assert rows[id_of(broken)].last_error == "channel_not_found"

    assert await poster.run_once(now=later()) == 0
    assert len(fake.calls_to("chat.postMessage")) == 3  # the failed one was never retried
    rows = await outbox(runtime)
    assert [rows[id_of(n)].state for n in (broken, other, after)] == ["failed", "sent", "sent"]


@pytest.mark.fault
async def test_a_reply_to_a_failed_nudge_does_not_block_its_channel(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """The first nudge about a lead fails for good; a jump is threaded under it; others still go."""
    contact_id = await add_lead(runtime, "Ana Silva")
    first = await queue_lead(runtime, contact_id, key="email:1", score=75, previous=50)
    fake.fail("chat.postMessage", status=200, error="invalid_blocks")
    poster = make_poster(runtime)
    await poster.run_once()
    assert (await outbox(runtime))[id_of(first)].state == "failed"

    update = await queue_lead(runtime, contact_id, key="email:2", score=95, previous=75)
    assert update.parent_id is None, "the rep never saw the failed nudge: start a new message"
    other = await new_lead_nudge(runtime, "Cy Park")
    for step in range(1, 4):
        await poster.run_once(now=later(step))

    assert other.id in posted_ids(fake)


# --- pacing and threads -----------------------------------------------------------------------


async def test_pacing_holds_a_channel_but_not_the_others(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """With a long pace, one message per channel per run; the next one once the pace has passed."""
    a1 = await new_lead_nudge(runtime, "Ana Silva")
    a2 = await new_lead_nudge(runtime, "Cy Park")
    b1 = await new_lead_nudge(runtime, "Bo Chen", owner=REP2.slack_id)
    clock = Clock()
    poster = make_poster(runtime, pace_s=60, clock=clock)

    assert await poster.run_once() == 2
    assert posted_ids(fake) == [a1.id, b1.id]

    clock.advance(59)
    assert await poster.run_once() == 0
    assert (await outbox(runtime))[id_of(a2)].state == "pending"

    clock.advance(2)
    assert await poster.run_once() == 1
    assert posted_ids(fake) == [a1.id, b1.id, a2.id]


@pytest.mark.fault
async def test_a_reply_waits_for_its_parent_then_goes_in_its_thread(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """A threaded update waits while its parent is unsent (here: in backoff), then follows it."""
    contact_id = await add_lead(runtime, "Ana Silva")
    parent = await queue_lead(runtime, contact_id, key="email:1", score=75, previous=50)
    update = await queue_lead(runtime, contact_id, key="email:2", score=95, previous=75)
    assert update.parent_id == parent.id
    fake.fail("chat.postMessage", status=502)
    poster = make_poster(runtime)

    assert await poster.run_once() == 0
    assert await poster.run_once() == 0  # parent still in backoff: the reply is due but waits
    rows = await outbox(runtime)
    assert (rows[id_of(parent)].attempts, rows[id_of(update)].state) == (1, "pending")

    assert await poster.run_once(now=later()) == 2
    first, second = posts(fake)
    assert [nudge_id(first), nudge_id(second)] == [parent.id, update.id]
    assert "thread_ts" not in first.params
    assert second.params["thread_ts"] == answer(first)["ts"]
    rows = await outbox(runtime)
    assert rows[id_of(parent)].message_ts == answer(first)["ts"]
    assert rows[id_of(update)].message_ts == answer(second)["ts"]

    async with unit_of_work(runtime.sessions) as session:
        sent_parent = await session.get(Nudge, parent.id)
        assert sent_parent is not None
        ack = await queue_reply(
            session=session,
            parent=sent_parent,
            cause="feedback_ack",
            dedupe_key="feedback:1:added:2",
            payload={"user": REP.slack_id, "signal": "+1", "label": True, "removed": False,
                     "before": 75, "after": 78, "model_version": 2},
        )  # fmt: skip
    assert await poster.run_once(now=later(2)) == 1
    reply = posts(fake)[-1]
    assert nudge_id(reply) == ack.id
    assert reply.params["channel"] == dm_channel_id(REP.slack_id)
    assert reply.params["thread_ts"] == answer(first)["ts"]
    for call in posts(fake):
        assert_disclosed(call)


# --- what the message says --------------------------------------------------------------------


async def hostile_nudge(runtime: Runtime) -> Nudge:
    """A hot lead whose every outside string tries to ping, link or inject markup."""
    contact_id = await add_lead(
        runtime, HOSTILE, title="<https://evil.example|Click> CEO", company="A&B <!here>"
    )
    return await queue_lead(
        runtime,
        contact_id,
        key="email:hostile",
        trigger="an email titled <!everyone>",
        reasons=("said <@U999> would sign > 10 seats",),
        action=("Call <mailto:eve@evil.example|Eve>", 12),
    )


async def test_every_message_is_disclosed_and_its_blocks_escape_outside_text(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """The last block says "Automated by Nudge"; no outside string reaches the blocks raw."""
    await hostile_nudge(runtime)
    assert await make_poster(runtime).run_once() == 1

    (call,) = posts(fake)
    assert_disclosed(call)
    shown = list(strings(call.params["blocks"]))
    for raw in RAW_MARKUP:
        assert not [text for text in shown if raw in text], raw
    joined = "\n".join(shown)
    assert "&lt;!channel&gt; Eve &amp; &lt;@U999&gt;" in joined
    assert "A&amp;B &lt;!here&gt;" in joined


async def test_the_fallback_text_escapes_outside_text_too(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """The ``text`` Slack shows in notifications is as inert as the blocks."""
    await hostile_nudge(runtime)
    assert await make_poster(runtime).run_once() == 1

    (call,) = posts(fake)
    for raw in RAW_MARKUP:
        assert raw not in call.params["text"], raw


async def test_a_team_that_wants_its_nudges_in_a_channel_gets_them_there(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    nudges = runtime.config.crm.nudges.model_copy(
        update={"deliver_to": "channel", "channel": "C0SALES1"}
    )
    crm = runtime.config.crm.model_copy(update={"nudges": nudges})
    runtime.config = AppConfig(slack=runtime.config.slack, crm=crm)
    nudge = await new_lead_nudge(runtime, "Ana Silva")  # owned by the rep

    assert await make_poster(runtime).run_once() == 1
    (call,) = posts(fake)
    assert call.params["channel"] == "C0SALES1"
    assert nudge.recipient_id is not None  # the owner's cap and quiet hours still pace it


def test_a_channel_delivery_without_a_channel_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"deliver_to: channel needs nudges\.channel"):
        NudgeConfig(deliver_to="channel")
