"""Time zones come from Slack (``users.info``, ``user_change``), not only from app.yaml:
quiet hours and the manager digest follow the zone each person set in Slack."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest
from structlog.testing import capture_logs

from bot.app import create_web_client
from bot.config import AppConfig
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.scheduler import digests_due
from bot.settings import Settings
from bot.slack_people import SlackPeople
from models.services.delivery import DeliveryRules
from tests.conftest import REP, make_settings
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.nudge_world import id_of, make_poster, new_lead_nudge, outbox, posted_ids
from tests.slack.world import MANAGER, REP2
from tests.slack_requests import bolt_for, dispatch_signed
from tests.slack_signing import JSON_CONTENT_TYPE, event_body
from tests.test_digest import digests_posted, post_outbox, user

QUIET = DeliveryRules(quiet_start=time(20), quiet_end=time(8), per_rep_per_hour=100)
# 22:00 UTC: 23:00 in Berlin (quiet), 17:00 in New York (app.yaml's zone: not quiet)
NIGHT_IN_BERLIN = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
BERLIN_MORNING = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
UTC_MORNING = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # app.yaml's zone for the manager
TOKYO_MORNING = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # 08:00 on the 21st in Tokyo


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake."""
    return make_settings(database_url, slack_api_url=fake.base_url)


@pytest.fixture
def app_config(app_config: AppConfig) -> AppConfig:
    """The Slack tests' team, with digests at 08:00 local."""
    crm = app_config.crm.model_copy(update={"digest_time": time(8, 0)})
    return AppConfig(slack=app_config.slack, crm=crm)


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def people(runtime: Runtime, fake: FakeSlackApi, clock: Ticks | None = None) -> SlackPeople:
    """What ``nudge serve`` runs beside the Bolt app, over the fake Slack Web API."""
    client = create_web_client(BOT_TOKEN, fake.base_url)
    return SlackPeople(runtime, client, clock=clock or Ticks())


async def zone_of(runtime: Runtime, slack_id: str) -> str:
    """The stored zone of a team member."""
    return (await user(runtime, slack_id)).tz


async def wait_for_zone(runtime: Runtime, slack_id: str, expected: str) -> None:
    """Until the stored zone is ``expected`` (listeners run after the ack); TimeoutError at 5 s."""
    async with asyncio.timeout(5):
        while await zone_of(runtime, slack_id) != expected:  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # what changes is a row in the database


async def test_quiet_hours_follow_the_reps_slack_zone(runtime: Runtime, fake: FakeSlackApi) -> None:
    """app.yaml puts Dana in New York; Slack says Berlin: at 23:00 there her nudge waits."""
    fake.set_user(REP.slack_id, tz="Europe/Berlin")
    await people(runtime, fake).refresh_zones()
    nudge = await new_lead_nudge(runtime, "Ana Silva")
    poster = make_poster(runtime, rules=QUIET)

    assert await poster.run_once(now=NIGHT_IN_BERLIN) == 0
    held = (await outbox(runtime))[id_of(nudge)]
    assert (held.state, held.next_attempt_at) == ("pending", BERLIN_MORNING)
    assert await poster.run_once(now=BERLIN_MORNING - timedelta(minutes=1)) == 0
    assert await poster.run_once(now=BERLIN_MORNING) == 1
    assert posted_ids(fake) == [nudge.id]


async def test_the_managers_digest_comes_at_eight_in_their_slack_zone(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    """app.yaml leaves Morgan in UTC; Slack says Tokyo: 08:00 UTC passes, 08:00 Tokyo sends."""
    fake.set_user(MANAGER.slack_id, tz="Asia/Tokyo")
    await people(runtime, fake).refresh_zones()

    runtime.clock = lambda: UTC_MORNING
    await digests_due(runtime)
    await post_outbox(runtime, fake)
    assert MANAGER.slack_id not in [c.params["channel"] for c in digests_posted(fake)]

    runtime.clock = lambda: TOKYO_MORNING
    await digests_due(runtime)
    await post_outbox(runtime, fake)
    assert [c.params["channel"] for c in digests_posted(fake)].count(MANAGER.slack_id) == 1


async def test_each_person_is_read_at_most_once_an_hour(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    clock = Ticks()
    keeper = people(runtime, fake, clock)
    fake.set_user(REP.slack_id, tz="Europe/Berlin")
    await keeper.refresh_zones()
    read = len(fake.calls_to("users.info"))
    assert read == 4  # Dana, Sam, Morgan, Alex

    fake.set_user(REP.slack_id, tz="Asia/Tokyo")
    clock.now += 3599
    assert await keeper.refresh_zones() == 0
    assert len(fake.calls_to("users.info")) == read
    clock.now += 1
    assert await keeper.refresh_zones() == 1
    assert len(fake.calls_to("users.info")) == 2 * read
    assert await zone_of(runtime, REP.slack_id) == "Asia/Tokyo"


async def test_slack_errors_and_unknown_zones_keep_the_stored_zone_and_log_no_ids(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    before = await zone_of(runtime, REP.slack_id)
    with capture_logs() as logs:
        fake.answer("users.info", {"ok": False, "error": "user_not_found"})
        assert await people(runtime, fake).refresh_zones() == 0
        fake.answer("users.info", {"user": {"id": REP.slack_id, "tz": "Mars/Olympus_Mons"}})
        assert await people(runtime, fake).refresh_zones() == 0
        fake.answer("users.info", {"user": {"id": REP.slack_id, "tz": None}})
        assert await people(runtime, fake).refresh_zones() == 0
    assert await zone_of(runtime, REP.slack_id) == before == REP.tz
    events = [entry["event"] for entry in logs]
    assert "people.zone_unreadable" in events
    assert "people.zone_unknown" in events
    for entry in logs:
        assert not {REP.slack_id, "Mars/Olympus_Mons"} & {str(v) for v in entry.values()}


async def test_a_restart_keeps_the_zone_slack_gave(
    runtime: Runtime, settings: Settings, app_config: AppConfig, fake: FakeSlackApi
) -> None:
    """Re-reading app.yaml (a restart, a reload) does not put back app.yaml's zone."""
    fake.set_user(REP.slack_id, tz="Asia/Kolkata")
    await people(runtime, fake).refresh_zones()
    restarted = await open_runtime(settings, app_config)
    try:
        assert await zone_of(restarted, REP.slack_id) == "Asia/Kolkata"
    finally:
        await close_runtime(restarted)


async def test_a_user_change_event_updates_the_zone(runtime: Runtime, fake: FakeSlackApi) -> None:
    """Slack sends ``user_change`` when someone edits their profile, zone included."""
    profile = {"id": REP2.slack_id, "tz": "Australia/Sydney", "tz_offset": 39600}
    changed = {"type": "user_change", "user": profile, "event_ts": "1732530000.000100"}
    body = event_body(changed, event_id="EvZone1")
    await dispatch_signed(bolt_for(runtime, fake), body, JSON_CONTENT_TYPE)
    await wait_for_zone(runtime, REP2.slack_id, "Australia/Sydney")
