"""The poster's promises: no spam (quiet hours in the rep's zone, an hourly cap, snoozes),
nothing lost or doubled through 429s, 5xx storms and a crash between Slack's answer and the
commit. Real poster, real database, the fake Slack Web API over HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bot.config import AppConfig
from bot.outbox import OutboxPoster, Posted, SlackTransport
from bot.runtime import Runtime
from bot.serve import connect_slack
from bot.settings import Settings
from models.db import unit_of_work
from models.nudge import Nudge
from models.services.delivery import DeliveryRules
from models.services.nudges import queue_reply
from models.services.snooze import snooze
from tests.conftest import REP, make_settings
from tests.fakes.slack_api import FakeSlackApi, dm_channel_id
from tests.nudge_world import (
    REP2,
    Clock,
    add_lead,
    id_of,
    make_poster,
    new_lead_nudge,
    nudge_id,
    outbox,
    posted_ids,
    posts,
    queue_lead,
)

TOKYO_REP = REP2.model_copy(update={"tz": "Asia/Tokyo"})
QUIET = DeliveryRules(quiet_start=time(20), quiet_end=time(8), per_rep_per_hour=100)
# 03:00 UTC: 22:00 in New York (quiet until 08:00 there = 13:00 UTC), noon in Tokyo
NIGHT_IN_NEW_YORK = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
NEW_YORK_MORNING = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake."""
    return make_settings(database_url, slack_api_url=fake.base_url)


@pytest.fixture
def app_config(app_config: AppConfig) -> AppConfig:
    """Two reps: Dana in New York, the other in Tokyo."""
    crm = app_config.crm.model_copy(update={"team": (REP, TOKYO_REP)})
    return AppConfig(slack=app_config.slack, crm=crm)


class ProcessDiedError(Exception):
    """The worker vanished: raised after Slack accepted the post, before anything was stored."""


class DiesAfterPosting(SlackTransport):
    """Slack's transport in a process that dies right after Slack answers."""

    async def post(self, **message: Any) -> Posted:
        await super().post(**message)
        raise ProcessDiedError


def dying_poster(runtime: Runtime) -> OutboxPoster:
    """A poster whose process dies between Slack's answer and the commit."""
    live = make_poster(runtime)
    assert isinstance(live.transport, SlackTransport)
    return OutboxPoster(runtime.sessions, DiesAfterPosting(live.transport.client), pace_s=0,
                        clock=Clock())  # fmt: skip


def per_channel(fake: FakeSlackApi) -> dict[str, list[int]]:
    """Nudge ids in the order Slack accepted them, per channel."""
    found: dict[str, list[int]] = {}
    for call in posts(fake):
        found.setdefault(call.params["channel"], []).append(nudge_id(call))
    return found


# --- quiet hours and the hourly cap ------------------------------------------------------------


async def test_quiet_hours_hold_a_nudge_until_morning_in_the_reps_own_zone(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """At 22:00 in New York Dana's nudge waits until 08:00 there; Tokyo's rep (noon) gets his."""
    dana = await new_lead_nudge(runtime, "Ana Silva")
    tokyo = await new_lead_nudge(runtime, "Bo Chen", owner=TOKYO_REP.slack_id)
    poster = make_poster(runtime, rules=lambda: DeliveryRules.of(runtime.config.crm.nudges))

    assert await poster.run_once(now=NIGHT_IN_NEW_YORK) == 1
    assert posted_ids(fake) == [tokyo.id]
    held = (await outbox(runtime))[id_of(dana)]
    assert (held.state, held.next_attempt_at, held.attempts) == ("pending", NEW_YORK_MORNING, 0)

    assert await poster.run_once(now=NEW_YORK_MORNING - timedelta(minutes=1)) == 0
    assert await poster.run_once(now=NEW_YORK_MORNING) == 1
    assert posted_ids(fake) == [tokyo.id, dana.id]


async def test_the_served_poster_keeps_quiet_hours_by_the_runtime_clock(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """``nudge serve`` builds its poster with app.yaml's rules and the runtime's clock."""
    dana = await new_lead_nudge(runtime, "Ana Silva")
    _bolt, poster = await connect_slack(runtime)
    runtime.clock = lambda: NIGHT_IN_NEW_YORK
    assert await poster.run_once() == 0
    runtime.clock = lambda: NEW_YORK_MORNING
    assert await poster.run_once() == 1
    assert posted_ids(fake) == [dana.id]


async def test_a_confirmation_is_not_held_by_quiet_hours_nor_by_a_held_nudge(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """Feedback answers what the rep just did: it goes at night, past a nudge held till morning."""
    first = await new_lead_nudge(runtime, "Ana Silva")
    poster = make_poster(runtime, rules=QUIET)
    assert await poster.run_once(now=NEW_YORK_MORNING) == 1
    waiting = await new_lead_nudge(runtime, "Cy Park")
    async with unit_of_work(runtime.sessions) as session:
        parent = await session.get(Nudge, first.id)
        assert parent is not None
        ack = await queue_reply(
            session=session, parent=parent, cause="feedback_ack", dedupe_key="feedback:9:added:1",
            payload={"user": REP.slack_id, "signal": "+1", "label": True, "removed": False,
                     "before": 71, "after": 74, "model_version": 2},
        )  # fmt: skip

    night = NIGHT_IN_NEW_YORK + timedelta(days=1)
    assert await poster.run_once(now=night) == 1
    assert posted_ids(fake) == [first.id, ack.id]
    assert posts(fake)[-1].params["thread_ts"] == (await outbox(runtime))[id_of(first)].message_ts
    assert (await outbox(runtime))[id_of(waiting)].state == "pending"


async def test_the_hourly_cap_delays_the_extra_nudges_and_drops_none(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """Two an hour: the third waits for the first one's hour to end, then goes."""
    nudges = [await new_lead_nudge(runtime, name) for name in ("Ana", "Bo", "Cy")]
    poster = make_poster(runtime, rules=DeliveryRules(time(0), time(0), per_rep_per_hour=2))
    start = NEW_YORK_MORNING

    assert await poster.run_once(now=start) == 2
    third = (await outbox(runtime))[id_of(nudges[2])]
    assert (third.state, third.next_attempt_at) == ("pending", start + timedelta(hours=1))
    assert await poster.run_once(now=start + timedelta(minutes=59)) == 0
    assert await poster.run_once(now=start + timedelta(hours=1)) == 1
    assert posted_ids(fake) == [n.id for n in nudges]


async def test_a_snoozed_lead_is_not_nudged_and_does_not_hold_its_channel(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """A pending nudge about a snoozed lead is set aside; the next one in the channel goes."""
    contact_id = await add_lead(runtime, "Ana Silva")
    snoozed = await queue_lead(runtime, contact_id, key="email:1")
    other = await new_lead_nudge(runtime, "Cy Park")
    now = NEW_YORK_MORNING
    async with unit_of_work(runtime.sessions) as session:
        await snooze(session=session, workspace_id=runtime.workspace_id,
                     subject=f"contact:{contact_id}", until=now + timedelta(days=1),
                     by=REP.slack_id)  # fmt: skip

    assert await make_poster(runtime).run_once(now=now) == 1
    assert posted_ids(fake) == [other.id]
    assert (await outbox(runtime))[id_of(snoozed)].state == "snoozed"


# --- outages: nothing lost, nothing doubled ----------------------------------------------------


@pytest.mark.fault
async def test_a_429_with_retry_after_then_success_posts_once(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    nudge = await new_lead_nudge(runtime, "Ana Silva")
    fake.fail("chat.postMessage", status=429, retry_after=1)

    assert await make_poster(runtime).run_once() == 1

    assert [c.failed for c in fake.calls_to("chat.postMessage")] == [True, False]
    assert posted_ids(fake) == [nudge.id]


@pytest.mark.fault
async def test_a_5xx_storm_delivers_every_nudge_exactly_once_in_order_per_channel(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """Ten rounds of 500/502/503 over six nudges in two channels; Slack then keeps them all once."""
    dana = [await new_lead_nudge(runtime, f"Lead {n}") for n in range(4)]
    tokyo = [await new_lead_nudge(runtime, f"Prospect {n}", owner=TOKYO_REP.slack_id)
             for n in range(2)]  # fmt: skip
    for status in (500, 502, 503, 502, 500, 502, 503, 502, 502, 500):
        fake.fail("chat.postMessage", status=status)
    poster = make_poster(runtime)

    for step in range(1, 40):
        await poster.run_once(now=NEW_YORK_MORNING + step * timedelta(minutes=10))

    assert per_channel(fake) == {
        REP.slack_id: [n.id for n in dana],
        TOKYO_REP.slack_id: [n.id for n in tokyo],
    }
    for user, expected in ((REP, dana), (TOKYO_REP, tokyo)):
        kept = [m["metadata"]["event_payload"]["nudge_id"]
                for m in fake.messages(dm_channel_id(user.slack_id))]  # fmt: skip
        assert kept == [n.id for n in expected], "Slack holds each nudge exactly once"
    assert {row.state for row in (await outbox(runtime)).values()} == {"sent"}
    assert fake.calls_to("conversations.history"), "a retry after a 5xx looked before posting"


# --- a crash between Slack's answer and the commit ---------------------------------------------


@pytest.mark.fault
async def test_a_crash_after_slack_accepted_the_post_does_not_post_it_again(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """The claim was committed before the post: after the restart the message is found, kept."""
    nudge = await new_lead_nudge(runtime, "Ana Silva")
    with pytest.raises(ProcessDiedError):
        await dying_poster(runtime).run_once(now=NEW_YORK_MORNING)
    (accepted,) = posts(fake)
    row = (await outbox(runtime))[id_of(nudge)]
    assert (row.state, row.message_ts) == ("sending", None)

    restarted = make_poster(runtime)
    assert await restarted.run_once(now=NEW_YORK_MORNING + timedelta(minutes=1)) == 0, (
        "another worker's claim is respected while its lease runs"
    )
    assert await restarted.run_once(now=NEW_YORK_MORNING + timedelta(minutes=10)) == 1

    assert posts(fake) == [accepted]
    row = (await outbox(runtime))[id_of(nudge)]
    assert accepted.answer is not None
    assert (row.state, row.channel_id, row.message_ts) == (
        "sent", accepted.answer["channel"], accepted.answer["ts"]
    )  # fmt: skip
    assert await restarted.run_once(now=NEW_YORK_MORNING + timedelta(hours=1)) == 0
    assert len(fake.calls_to("chat.postMessage")) == 1


@pytest.mark.fault
async def test_a_crash_after_a_threaded_reply_is_found_in_the_thread(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """A jump threaded under the first nudge is looked for with ``conversations.replies``."""
    contact_id = await add_lead(runtime, "Ana Silva")
    first = await queue_lead(runtime, contact_id, key="email:1", score=75, previous=50)
    assert await make_poster(runtime).run_once(now=NEW_YORK_MORNING) == 1
    update = await queue_lead(runtime, contact_id, key="email:2", score=95, previous=75)
    assert update.parent_id == first.id

    with pytest.raises(ProcessDiedError):
        await dying_poster(runtime).run_once(now=NEW_YORK_MORNING)
    assert await make_poster(runtime).run_once(now=NEW_YORK_MORNING + timedelta(hours=1)) == 1

    assert posted_ids(fake) == [first.id, update.id]
    (lookup,) = fake.calls_to("conversations.replies")
    assert lookup.params["ts"] == (await outbox(runtime))[id_of(first)].message_ts
    accepted = posts(fake)[1].answer
    assert accepted is not None
    assert (await outbox(runtime))[id_of(update)].message_ts == accepted["ts"]


@pytest.mark.fault
async def test_a_claim_left_by_a_crash_before_the_post_is_posted_once(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """Slack never got it: the lookup finds nothing and the nudge is posted, once."""
    nudge = await new_lead_nudge(runtime, "Ana Silva")
    fake.fail("chat.postMessage", status=503, times=3)  # slack_sdk's own retries included
    await make_poster(runtime).run_once(now=NEW_YORK_MORNING)
    assert (await outbox(runtime))[id_of(nudge)].state == "sending"

    assert await make_poster(runtime).run_once(now=NEW_YORK_MORNING + timedelta(hours=1)) == 1
    assert posted_ids(fake) == [nudge.id]
    assert len(fake.calls_to("conversations.history")) == 1


@pytest.mark.fault
async def test_a_channel_that_cannot_be_read_does_not_lose_the_nudge(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """Without a history scope the poster cannot look: it posts rather than drop the nudge."""
    nudge = await new_lead_nudge(runtime, "Ana Silva")
    fake.fail("chat.postMessage", status=503, times=3)
    fake.fail("conversations.history", status=200, error="missing_scope")
    await make_poster(runtime).run_once(now=NEW_YORK_MORNING)

    assert await make_poster(runtime).run_once(now=NEW_YORK_MORNING + timedelta(hours=1)) == 1
    assert posted_ids(fake) == [nudge.id]
    assert (await outbox(runtime))[id_of(nudge)].state == "sent"


class OtherWorkerMeanwhile(SlackTransport):
    """Slack's transport; while a post is on its way, another worker polls the same outbox."""

    def __init__(self, poster: OutboxPoster, now: datetime) -> None:
        assert isinstance(poster.transport, SlackTransport)
        super().__init__(poster.transport.client)
        self.other, self.now, self.rounds = poster, now, 0

    async def post(self, **message: Any) -> Posted:
        self.rounds += 1
        await self.other.run_once(now=self.now)
        return await super().post(**message)


@pytest.mark.fault
async def test_a_second_worker_polling_mid_post_neither_doubles_nor_overtakes(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """Worker B runs a whole round while worker A's post is on the wire: B leaves A's claimed
    nudge alone and cannot send the next one of that channel before it."""
    dana = [await new_lead_nudge(runtime, f"Lead {n}") for n in range(3)]
    tokyo = [await new_lead_nudge(runtime, f"Prospect {n}", owner=TOKYO_REP.slack_id)
             for n in range(3)]  # fmt: skip
    other = make_poster(runtime)
    meddled = OtherWorkerMeanwhile(other, NEW_YORK_MORNING)
    worker = OutboxPoster(runtime.sessions, meddled, pace_s=0, clock=Clock())

    for step in range(4):
        await worker.run_once(now=NEW_YORK_MORNING + step * timedelta(minutes=10))

    assert meddled.rounds > 0
    assert per_channel(fake) == {
        REP.slack_id: [n.id for n in dana],
        TOKYO_REP.slack_id: [n.id for n in tokyo],
    }
    assert {row.state for row in (await outbox(runtime)).values()} == {"sent"}
