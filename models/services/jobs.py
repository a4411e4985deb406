"""Run-once guards and leases: a job's run for a period, or a resource, has one owner."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import add_unless_taken
from models.jobs import JobRun, Lease
from models.types import utcnow


async def claim_run(*, session: AsyncSession, job: str, period: str, worker: str) -> JobRun | None:
    """Claim ``job`` for ``period``; None if another worker (or an earlier run) has it.

    The unique (job, period) row is written in the caller's transaction, so work that
    fails rolls the claim back and a retry can run it again.
    """
    run = JobRun(job=job, period=period, worker=worker)
    return run if await add_unless_taken(session, run) else None


def finish_run(run: JobRun) -> None:
    """Mark a claimed run done."""
    run.finished_at = utcnow()


async def take_lease(
    *, session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew lease ``name`` for ``holder`` until ``now + ttl``; False if someone holds it.

    A lease is free when it has expired; the conditional update makes the take atomic (on
    PostgreSQL a concurrent taker waits for the row and then sees the new holder).
    """
    taken = await session.exec(
        update(Lease)
        .where(
            col(Lease.name) == name,
            or_(col(Lease.holder) == holder, col(Lease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    if taken.rowcount == 1:
        return True
    return await add_unless_taken(session, Lease(name=name, holder=holder, expires_at=now + ttl))


async def hold_lease(
    *, session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Extend a lease ``holder`` still has; False if it passed to someone else meanwhile.

    Called inside the transaction whose work the lease guards, this fences it: the row
    stays locked until commit (on SQLite the whole database does), so nobody can take over
    meanwhile. A lease that merely expired, untaken, is still the holder's.
    """
    held = await session.exec(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder)
        .values(expires_at=now + ttl)
    )
    return held.rowcount == 1


async def release_lease(*, session: AsyncSession, name: str, holder: str, now: datetime) -> None:
    """Give a lease back at once (a no-op if ``holder`` no longer has it)."""
    await session.exec(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder)
        .values(expires_at=now)
    )


async def lease_holder(*, session: AsyncSession, name: str) -> str | None:
    """Who holds (or last held) lease ``name``; None if it was never taken."""
    lease = await session.get(Lease, name)
    return lease.holder if lease is not None else None


async def take_over_lease(
    *, session: AsyncSession, name: str, dead: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take lease ``name`` from ``dead``, a holder known to be gone, before it expires.

    Atomic like :func:`take_lease`: False if the lease changed hands meanwhile.
    """
    taken = await session.exec(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == dead)
        .values(holder=holder, expires_at=now + ttl)
    )
    return taken.rowcount == 1
