"""Scheduled work (APScheduler 3): each job runs once per period, whatever the worker count.

Digests: every quarter of an hour, aligned on ``crm.digest_time``'s minute (so the check
falls exactly on the digest time in every zone, whose offsets are whole quarters of an
hour), and once at start-up to catch up on a morning missed while no worker ran. Each
check queues only the digests that are due and not yet claimed (see :mod:`bot.digest`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.deal_checks import check_deal_nudges
from bot.digest import send_due_digests, slack_client
from bot.governance import (
    prune_old_receipts,
    prune_past_retention,
    prune_raw_past_retention,
)
from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.audit import SYSTEM
from models.services.hygiene import sweep as hygiene_sweep
from models.services.jobs import claim_run, finish_run
from models.services.nudges import sweep_hot_leads

log = structlog.get_logger(__name__)
GRACE_S = 6 * 3600
WORKER = f"{socket.gethostname()}:{os.getpid()}"


async def _once_today(
    runtime: Runtime, job: str, work: Callable[[AsyncSession, datetime], Awaitable[int]]
) -> int:
    """Run ``work`` in one transaction with the claim of ``job`` for today (UTC), or not at all."""
    now = runtime.clock()
    async with unit_of_work(runtime.sessions) as session:
        run = await claim_run(
            session=session,
            job=f"{job}:{runtime.workspace_id}",
            period=now.date().isoformat(),
            worker=WORKER,
        )
        if run is None:
            return 0
        done = await work(session, now)
        finish_run(run)
    log.info("daily.done", job=job, count=done)
    return done


async def daily_hot_lead_sweep(runtime: Runtime) -> int:
    """Nudge about hot leads nobody was told about; once per workspace per UTC day."""

    async def work(session: AsyncSession, now: datetime) -> int:
        queued = await sweep_hot_leads(
            session=session,
            scorer=runtime.scorer,
            workspace_id=runtime.workspace_id,
            config=runtime.config.crm,
            now=now,
        )
        return len(queued)

    return await _once_today(runtime, "hot-lead-sweep", work)


async def daily_hygiene_sweep(runtime: Runtime) -> int:
    """Check every record against the hygiene rules (the ones that fire as time passes);
    once per workspace per UTC day. Returns how many issues opened."""

    async def work(session: AsyncSession, now: datetime) -> int:
        result = await hygiene_sweep(
            session=session, workspace_id=runtime.workspace_id, config=runtime.config.crm, now=now
        )
        return len(result.opened)

    return await _once_today(runtime, "hygiene-sweep", work)


async def daily_retention(runtime: Runtime) -> int:
    """Drop audit rows and raw items past ``crm.retention_days``, and request signatures no
    replay could use; once per UTC day. Returns how many rows went."""

    async def work(session: AsyncSession, _now: datetime) -> int:
        audit = await prune_past_retention(session, runtime, SYSTEM)
        raw = await prune_raw_past_retention(session, runtime, SYSTEM)
        return audit + raw + await prune_old_receipts(session)

    return await _once_today(runtime, "retention", work)


async def digests_due(runtime: Runtime) -> int:
    """Queue the digests whose local morning has come; returns how many."""
    return await send_due_digests(runtime, slack_client(runtime))


Job = Callable[[Runtime], Awaitable[object]]


class RunningJobs:
    """Scheduled runs in flight. APScheduler's shutdown cancels them, which could cut a
    transaction in half; a stop pauses the scheduler and lets them finish instead."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def track(self, job: Job) -> Job:
        """``job``, recorded while it runs."""

        @functools.wraps(job)
        async def run(runtime: Runtime) -> object:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                return await job(runtime)
            finally:
                self._tasks.discard(task)

        return run

    async def finish(self) -> None:
        """Wait for every run in flight (their errors were logged by the scheduler)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def stop_scheduler(scheduler: AsyncIOScheduler, running: RunningJobs) -> None:
    """No new runs; the ones in flight finish; then shut down."""
    scheduler.pause()
    await running.finish()
    scheduler.shutdown(wait=False)


def create_scheduler(runtime: Runtime, running: RunningJobs | None = None) -> AsyncIOScheduler:
    """The scheduler with Nudge's jobs; a run late by up to six hours still happens."""
    scheduler = AsyncIOScheduler(
        timezone="UTC", job_defaults={"misfire_grace_time": GRACE_S, "coalesce": True}
    )
    at = runtime.config.crm.digest_time
    track = running.track if running is not None else (lambda job: job)
    for daily, job_id in ((daily_hot_lead_sweep, "hot-lead-sweep"),
                          (daily_hygiene_sweep, "hygiene-sweep"),
                          (daily_retention, "retention")):  # fmt: skip
        scheduler.add_job(
            track(daily),
            CronTrigger(hour=at.hour, minute=at.minute, timezone="UTC"),
            args=[runtime],
            id=job_id,
            replace_existing=True,
        )
    scheduler.add_job(
        track(digests_due),
        CronTrigger(minute=f"{at.minute % 15}-59/15", timezone="UTC"),
        args=[runtime],
        id="digests",
        replace_existing=True,
    )
    scheduler.add_job(
        track(digests_due), args=[runtime], id="digests-catch-up", replace_existing=True
    )
    scheduler.add_job(
        track(check_deal_nudges),
        "interval",
        minutes=runtime.config.crm.nudges.check_every_minutes,
        args=[runtime],
        id="deal-checks",
        replace_existing=True,
    )
    return scheduler
