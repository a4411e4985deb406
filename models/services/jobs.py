"""Run-once guards: a job's run for a period is claimed by exactly one worker."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from models.jobs import JobRun
from models.types import utcnow


async def claim_run(*, session: AsyncSession, job: str, period: str, worker: str) -> JobRun | None:
    """Claim ``job`` for ``period``; None if another worker (or an earlier run) has it.

    The unique (job, period) row is written in the caller's transaction, so work that
    fails rolls the claim back and a retry can run it again.
    """
    run = JobRun(job=job, period=period, worker=worker)
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        return None
    return run


def finish_run(run: JobRun) -> None:
    """Mark a claimed run done."""
    run.finished_at = utcnow()
