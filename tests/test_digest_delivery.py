"""Daily digests go out once per recipient per local day, at each one's own local morning.

The scheduler's jobs call :func:`bot.scheduler.digests_due`; these tests call it as the
jobs would (or let two real schedulers fire it), with the runtime's clock set to each
moment, and send the outbox through the real poster to the fake Slack Web API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent

from bot.config import AppConfig
from bot.digest import due_date
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.scheduler import create_scheduler, digests_due
from tests.conftest import make_settings
from tests.fakes.slack_api import FakeSlackApi
from tests.test_digest import (
    ADMIN,
    BERLIN,
    MANAGER,
    OTHER,
    TEAM_REP,
    Clock,
    digests_posted,
    post_outbox,
    user,
)

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def at(hour: int, minute: int = 0, *, day: int = 0) -> datetime:
    """A UTC moment on the test day (or ``day`` days later)."""
    return DAY.replace(day=DAY.day + day, hour=hour, minute=minute)


@pytest.fixture
def team_config(app_config: AppConfig) -> AppConfig:
    """Managers in New York and Berlin, their reps, an admin in UTC; digests at 08:00."""
    crm = app_config.crm.model_copy(
        update={"team": (MANAGER, TEAM_REP, BERLIN, OTHER, ADMIN), "digest_time": time(8, 0)}
    )
    return AppConfig(slack=app_config.slack, crm=crm)


class Workers:
    """Nudge processes on one database, started and stopped like real workers."""

    def __init__(self, database_url: str, config: AppConfig, fake: FakeSlackApi) -> None:
        self.settings = make_settings(database_url, slack_api_url=fake.base_url)
        self.config = config
        self.clock = Clock(DAY)
        self.running: list[Runtime] = []

    async def start(self) -> Runtime:
        """A new worker process (a restart is a new one)."""
        runtime = await open_runtime(self.settings, self.config, clock=self.clock)
        self.running.append(runtime)
        return runtime

    async def stop_all(self) -> None:
        """Every worker down."""
        while self.running:
            await close_runtime(self.running.pop())


@pytest.fixture
async def workers(
    database_url: str, team_config: AppConfig, fake: FakeSlackApi
) -> AsyncIterator[Workers]:
    """Worker processes sharing the test database; all stopped at the end."""
    group = Workers(database_url, team_config, fake)
    yield group
    await group.stop_all()


async def sent_to(runtime: Runtime, fake: FakeSlackApi) -> list[str]:
    """Post the outbox; every digest recipient so far, in order."""
    await post_outbox(runtime, fake)
    return [call.params["channel"] for call in digests_posted(fake)]


async def test_two_schedulers_at_once_send_one_digest_each(
    workers: Workers, fake: FakeSlackApi
) -> None:
    first, second = await workers.start(), await workers.start()
    workers.clock.now = at(13, 0)  # 08:00 in New York; the admin's window (UTC) is open too
    queued = await asyncio.gather(
        digests_due(first), digests_due(second), digests_due(first), digests_due(second)
    )
    assert sum(queued) == 2
    assert sorted(await sent_to(first, fake)) == sorted([MANAGER.slack_id, ADMIN.slack_id])


DIGEST_JOBS = ("digests", "digests-catch-up")


async def test_two_real_schedulers_firing_together_queue_one_digest_each(
    workers: Workers, fake: FakeSlackApi
) -> None:
    """Two workers' APScheduler schedulers fire both digest jobs at the same instant."""
    workers.clock.now = at(13, 0)  # 08:00 in New York; the admin's window (UTC) is open too
    schedulers = [create_scheduler(await workers.start()) for _ in range(2)]
    runs: list[JobExecutionEvent] = []
    all_ran = asyncio.Event()

    def ran(event: JobExecutionEvent) -> None:
        if event.job_id in DIGEST_JOBS:
            runs.append(event)
        if len(runs) == len(schedulers) * len(DIGEST_JOBS):
            all_ran.set()

    fire_at = datetime.now(UTC) + timedelta(seconds=0.5)
    for scheduler in schedulers:
        scheduler.add_listener(ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        scheduler.start(paused=True)
        for job_id in DIGEST_JOBS:
            scheduler.modify_job(job_id, next_run_time=fire_at)
    try:
        for scheduler in schedulers:
            scheduler.resume()
        async with asyncio.timeout(30):
            await all_ran.wait()
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
    assert [run.exception for run in runs] == [None] * 4
    assert {run.scheduled_run_time for run in runs} == {fire_at}
    assert sum(run.retval for run in runs) == 2
    expected = sorted([MANAGER.slack_id, ADMIN.slack_id])
    assert sorted(await sent_to(workers.running[0], fake)) == expected


async def test_a_restart_across_the_digest_time_sends_once(
    workers: Workers, fake: FakeSlackApi
) -> None:
    workers.clock.now = at(12, 50)  # 07:50 in New York: the worker goes down before 08:00
    worker = await workers.start()
    await digests_due(worker)
    assert MANAGER.slack_id not in await sent_to(worker, fake)
    await workers.stop_all()
    workers.clock.now = at(13, 20)  # back up at 08:20: the start-up catch-up sends it
    worker = await workers.start()
    await digests_due(worker)
    assert (await sent_to(worker, fake)).count(MANAGER.slack_id) == 1
    await workers.stop_all()
    workers.clock.now = at(14, 0)  # restarted again at 09:00: nothing more
    worker = await workers.start()
    assert await digests_due(worker) == 0
    assert (await sent_to(worker, fake)).count(MANAGER.slack_id) == 1


async def test_a_missed_morning_is_not_sent_the_next_day(
    workers: Workers, fake: FakeSlackApi
) -> None:
    worker = await workers.start()
    workers.clock.now = at(20, 0)  # 15:00 in New York: today's window closed unsent
    await digests_due(worker)
    workers.clock.now = at(12, 0, day=1)  # 07:00 the next day: yesterday's is not sent
    await digests_due(worker)
    assert MANAGER.slack_id not in await sent_to(worker, fake)
    workers.clock.now = at(13, 5, day=1)  # 08:05: today's goes
    await digests_due(worker)
    assert (await sent_to(worker, fake)).count(MANAGER.slack_id) == 1


async def test_each_manager_gets_theirs_at_their_own_morning(
    workers: Workers, fake: FakeSlackApi
) -> None:
    worker = await workers.start()
    moments = {
        at(7, 0): [BERLIN.slack_id],  # 08:00 in Berlin
        at(8, 0): [ADMIN.slack_id],  # 08:00 UTC; Berlin's already went
        at(12, 0): [],  # 07:00 in New York
        at(13, 0): [MANAGER.slack_id],  # 08:00 in New York
        at(13, 15): [],
    }
    seen: list[str] = []
    for moment, expected in moments.items():
        workers.clock.now = moment
        await digests_due(worker)
        now_sent = await sent_to(worker, fake)
        assert now_sent[len(seen) :] == expected, moment
        seen = now_sent
    titles = {call.params["blocks"][0]["text"]["text"] for call in digests_posted(fake)}
    assert titles == {
        "Daily digest for your team · 2026-11-20",
        "Daily digest for everyone · 2026-11-20",
    }


@pytest.mark.parametrize(
    ("moment", "due"),
    [
        (datetime(2026, 10, 31, 12, 0, tzinfo=UTC), "2026-10-31"),  # 08:00 EDT
        (datetime(2026, 11, 1, 12, 0, tzinfo=UTC), None),  # 07:00 EST, after the clocks went back
        (datetime(2026, 11, 1, 13, 0, tzinfo=UTC), "2026-11-01"),  # 08:00 EST
        (datetime(2026, 11, 1, 18, 59, tzinfo=UTC), "2026-11-01"),  # the grace period's last minute
        (datetime(2026, 11, 1, 19, 0, tzinfo=UTC), None),
    ],
)
async def test_the_window_follows_the_managers_clock_across_daylight_saving(
    workers: Workers, moment: datetime, due: str | None
) -> None:
    runtime = await workers.start()
    manager = await user(runtime, MANAGER.slack_id)
    found = due_date(manager, runtime, moment)
    assert (found.isoformat() if found else None) == due
