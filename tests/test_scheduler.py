"""Scheduled jobs run once per period, even when several workers try."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import func, select

from bot.flows import capture
from bot.runtime import Runtime
from bot.scheduler import (
    GRACE_S,
    RunningJobs,
    create_scheduler,
    daily_hot_lead_sweep,
    daily_hygiene_sweep,
    stop_scheduler,
)
from handlers.mail_capture import email_input
from models.db import unit_of_work
from models.jobs import JobRun
from models.nudge import Nudge
from models.services.jobs import claim_run
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.hygiene_world import add_deal, make_world, open_issues, with_rules
from tests.mail_factory import eager_thread


async def _claim(runtime: Runtime, worker: str) -> bool:
    async with unit_of_work(runtime.sessions) as session:
        run = await claim_run(session=session, job="digest:U1", period="2026-11-20", worker=worker)
        return run is not None


async def test_a_period_is_claimed_once(runtime: Runtime) -> None:
    results = [await _claim(runtime, "a"), await _claim(runtime, "b")]
    assert results == [True, False]


async def test_concurrent_claims_have_one_winner(runtime: Runtime) -> None:
    results = await asyncio.gather(*(_claim(runtime, f"w{n}") for n in range(4)))
    assert sorted(results) == [False, False, False, True]


async def test_the_sweep_nudges_old_hot_leads_once_a_day(runtime: Runtime) -> None:
    for raw in eager_thread((REP.name, REP.email), start=NOW - timedelta(days=6)):
        await capture(runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))
    async with unit_of_work(runtime.sessions) as session:
        before = (await session.exec(select(func.count()).select_from(Nudge))).one()
    assert before == 0, "mail older than max_age_hours must not nudge on capture"
    assert await daily_hot_lead_sweep(runtime) == 1
    assert await daily_hot_lead_sweep(runtime) == 0
    async with unit_of_work(runtime.sessions) as session:
        runs = (await session.exec(select(JobRun))).all()
        nudge = (await session.exec(select(Nudge))).one()
    assert [(r.period, r.finished_at is not None) for r in runs] == [("2026-11-20", True)]
    assert nudge.payload["trigger"] == "a review of current leads"


async def test_the_scheduler_keeps_late_runs(runtime: Runtime) -> None:
    scheduler = create_scheduler(runtime)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("hot-lead-sweep")
        assert job is not None
        assert job.misfire_grace_time == GRACE_S
        assert str(job.trigger) == "cron[hour='8', minute='30']"
    finally:
        scheduler.shutdown(wait=False)


async def test_digests_are_checked_each_quarter_hour_and_at_start(runtime: Runtime) -> None:
    scheduler = create_scheduler(runtime)
    scheduler.start(paused=True)
    try:
        checks, catch_up = scheduler.get_job("digests"), scheduler.get_job("digests-catch-up")
        assert checks is not None
        assert catch_up is not None
        assert str(checks.trigger) == "cron[minute='0-59/15']"
        assert checks.misfire_grace_time == GRACE_S
        assert str(catch_up.trigger).startswith("date[")
        assert catch_up.next_run_time is not None
    finally:
        scheduler.shutdown(wait=False)


async def test_the_daily_hygiene_sweep_finds_what_time_broke_once_a_day(
    runtime: Runtime,
) -> None:
    world = await make_world(runtime)
    with_rules(runtime, {"rule": "close_date_past"})
    deal = await add_deal(world, "Renewal", close_date=(NOW + timedelta(days=1)).date())
    assert await daily_hygiene_sweep(runtime) == 0, "not overdue yet"
    runtime.clock = lambda: NOW + timedelta(days=2)
    assert await daily_hygiene_sweep(runtime) == 1
    assert await daily_hygiene_sweep(runtime) == 0, "claimed for the day"
    assert {(kind, ident, rule) for kind, ident, rule, _ in await open_issues(world)} == {
        ("deal", deal, "close_date_past")
    }


async def test_a_stop_lets_a_running_job_finish_instead_of_cutting_it(runtime: Runtime) -> None:
    running, started, finished = RunningJobs(), asyncio.Event(), asyncio.Event()

    async def slow(_runtime: Runtime) -> int:
        started.set()
        await asyncio.sleep(0.05)
        finished.set()
        return 1

    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(running.track(slow), args=[runtime])
    scheduler.start()
    await started.wait()
    await stop_scheduler(scheduler, running)
    assert finished.is_set()


async def test_a_claim_is_undone_with_the_transaction_that_made_it(runtime: Runtime) -> None:
    """The claim's savepoint must not commit on its own (SQLite's driver once let it)."""

    async def claim_then_fail() -> None:
        async with unit_of_work(runtime.sessions) as session:
            assert await claim_run(session=session, job="digest:U1", period="p", worker="w")
            raise RuntimeError("the work failed after the claim")

    with pytest.raises(RuntimeError):
        await claim_then_fail()
    async with unit_of_work(runtime.sessions) as session:
        assert (await session.exec(select(JobRun))).all() == []
