"""The periodic deal check: stale deals and meetings tomorrow that need preparing.

Scheduled every ``crm.nudges.check_every_minutes``; each period is claimed by one worker
(``models.services.jobs.claim_run``), and the nudges it queues are committed with the claim.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from datetime import datetime

import structlog

from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.deal_checks import check_deals
from models.services.jobs import claim_run, finish_run

log = structlog.get_logger(__name__)
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def period_of(now: datetime, minutes: int) -> str:
    """The check period ``now`` falls in, e.g. ``2026-11-20T14:00`` for hourly checks.

    >>> from datetime import UTC
    >>> period_of(datetime(2026, 11, 20, 14, 37, tzinfo=UTC), 60)
    '2026-11-20T14:00'
    >>> period_of(datetime(2026, 11, 20, 14, 37, tzinfo=UTC), 15)
    '2026-11-20T14:30'
    """
    start = now.hour * 60 + now.minute
    start -= start % minutes
    return f"{now.date().isoformat()}T{start // 60:02d}:{start % 60:02d}"


async def check_deal_nudges(runtime: Runtime) -> int:
    """Queue stale-deal and meeting-prep nudges, once per period whatever the worker count."""
    now = runtime.clock()
    crm = runtime.config.crm
    async with unit_of_work(runtime.sessions) as session:
        run = await claim_run(
            session=session,
            job=f"deal-checks:{runtime.workspace_id}",
            period=period_of(now, crm.nudges.check_every_minutes),
            worker=WORKER,
        )
        if run is None:
            return 0
        queued = await check_deals(
            session=session, workspace_id=runtime.workspace_id, config=crm, now=now
        )
        finish_run(run)
    log.info("deal_checks.done", nudges=len(queued))
    return len(queued)


async def recheck_deals(runtime: Runtime, deal_ids: Collection[int]) -> int:
    """Check some deals now, after a change to them (not claimed: the nudges dedupe)."""
    async with unit_of_work(runtime.sessions) as session:
        queued = await check_deals(
            session=session,
            workspace_id=runtime.workspace_id,
            config=runtime.config.crm,
            now=runtime.clock(),
            deal_ids=deal_ids,
        )
    return len(queued)
