"""Scheduled work (APScheduler 3): each job runs once per period, whatever the worker count."""

from __future__ import annotations

import os
import socket

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.jobs import claim_run, finish_run
from models.services.nudges import sweep_hot_leads

log = structlog.get_logger(__name__)
GRACE_S = 6 * 3600
WORKER = f"{socket.gethostname()}:{os.getpid()}"


async def daily_hot_lead_sweep(runtime: Runtime) -> int:
    """Nudge about hot leads nobody was told about; once per workspace per UTC day."""
    now = runtime.clock()
    async with unit_of_work(runtime.sessions) as session:
        run = await claim_run(
            session=session,
            job=f"hot-lead-sweep:{runtime.workspace_id}",
            period=now.date().isoformat(),
            worker=WORKER,
        )
        if run is None:
            return 0
        queued = await sweep_hot_leads(
            session=session,
            scorer=runtime.scorer,
            workspace_id=runtime.workspace_id,
            config=runtime.config.crm,
            now=now,
        )
        finish_run(run)
    log.info("sweep.done", nudges=len(queued))
    return len(queued)


def create_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    """The scheduler with Nudge's jobs; a run late by up to six hours still happens."""
    scheduler = AsyncIOScheduler(
        timezone="UTC", job_defaults={"misfire_grace_time": GRACE_S, "coalesce": True}
    )
    at = runtime.config.crm.digest_time
    scheduler.add_job(
        daily_hot_lead_sweep,
        CronTrigger(hour=at.hour, minute=at.minute, timezone="UTC"),
        args=[runtime],
        id="hot-lead-sweep",
        replace_existing=True,
    )
    return scheduler
