"""One learner per workspace at a time, however many workers serve it.

Every worker holds a live model in memory. A *learning turn* (one verdict or outcome
learned and logged) runs only under the workspace's learner lease: the worker takes the
lease in a short transaction of its own, catches its model up with the learning-log rows
other workers wrote, learns and logs in the turn's transaction (which also checks that the
lease is still its own and gives it back), and only then adopts the new model. A worker
that dies mid-turn leaves the lease taken until it expires; the next worker takes over
then, or at once if it was a process on the same host (a restart after a crash). Scoring
catches up the same way, so every worker's model equals a replay of the log.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from learning.scorer import PendingUpdate, Refresh, Scorer
from learning.store import LoadedModel, _entries_after, _replay_onto, load_live
from models.db import SessionFactory, unit_of_work
from models.learning import LearningLogEntry
from models.services.jobs import (
    hold_lease,
    lease_holder,
    release_lease,
    take_lease,
    take_over_lease,
)
from models.types import utcnow

LEARNER_TTL = timedelta(seconds=3)
"""How long a taken lease outlives a worker that died holding it (turns take milliseconds)."""
WAIT_S = 30.0
"""How long a turn waits for the lease before giving up (the event is then retried)."""


class LeaseUnavailableError(RuntimeError):
    """The learner lease stayed with another worker for longer than a turn may wait."""


class LeaseLostError(RuntimeError):
    """The lease expired and passed to another worker before this turn could log its update."""


def learner_lease(workspace_id: int) -> str:
    """The lease name of a workspace's learner."""
    return f"learner:{workspace_id}"


def holder_of(scorer: Scorer) -> str:
    """This worker's name as a lease holder: host, process and live model."""
    return f"{socket.gethostname()}:{os.getpid()}:{id(scorer):x}"


async def _last_applied_id(session: AsyncSession, workspace_id: int, version: int) -> int:
    """The log id of the update that brought the model to ``version`` (0 before any)."""
    if version == 0:
        return 0
    query = select(col(LearningLogEntry.id)).where(
        LearningLogEntry.workspace_id == workspace_id, LearningLogEntry.model_version == version
    )
    newest = query.order_by(col(LearningLogEntry.id).desc()).limit(1)
    return (await session.exec(newest)).first() or 0


def log_follower(session: AsyncSession, workspace_id: int) -> Refresh:
    """A catch-up for a scorer: applies log rows newer than its own version, in id order.

    Rows this worker wrote itself are already in the model (their version is not newer).
    A gap in versions means the model cannot be continued; it is then reloaded whole.
    """

    async def catch_up(scorer: Scorer) -> None:
        if scorer.log_cursor is None:
            scorer.log_cursor = await _last_applied_id(session, workspace_id, scorer.version)
        entries = await _entries_after(session, workspace_id, scorer.log_cursor)
        if entries:
            scorer.log_cursor = entries[-1].id
        newer = [e for e in entries if e.model_version > scorer.version]
        if not newer:
            return
        if newer[0].model_version == scorer.version + 1:
            current = LoadedModel(scorer.model, scorer.version, scorer.outcomes_seen)
            loaded = _replay_onto(current, newer)
        else:
            loaded = await load_live(session=session, workspace_id=workspace_id)
        scorer.model, scorer.version = loaded.model, loaded.version
        scorer.outcomes_seen = loaded.outcomes_seen

    return catch_up


async def refresh_model(session: AsyncSession, runtime: Runtime) -> None:
    """Bring the live model up to date with the learning log before scoring with it.

    Skipped while this worker is in a learning turn: the turn catches up itself.
    """
    await runtime.scorer.refresh(log_follower(session, runtime.workspace_id))


def _gone(holder: str) -> bool:
    """True for a holder that was a process on this host which no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def _try_take(session: AsyncSession, name: str, holder: str, ttl: timedelta) -> bool:
    if await take_lease(session=session, name=name, holder=holder, now=utcnow(), ttl=ttl):
        return True
    current = await lease_holder(session=session, name=name)
    if current is None or not _gone(current):
        return False
    return await take_over_lease(
        session=session, name=name, dead=current, holder=holder, now=utcnow(), ttl=ttl
    )


async def _take(sessions: SessionFactory, name: str, holder: str, ttl: timedelta) -> None:
    """Wait for the lease: free, expired, or left by a dead process on this host."""
    deadline = time.monotonic() + WAIT_S
    pause = 0.01
    while True:
        async with unit_of_work(sessions) as session:
            if await _try_take(session, name, holder, ttl):
                return
        if time.monotonic() > deadline:
            raise LeaseUnavailableError(f"{name} is still held by another worker")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.25)


@dataclass(frozen=True, slots=True)
class Turn:
    """The staged model and the transaction of one learning turn."""

    pending: PendingUpdate
    session: AsyncSession


@asynccontextmanager
async def learning_turn(runtime: Runtime, *, ttl: timedelta = LEARNER_TTL) -> AsyncIterator[Turn]:
    """Learn under the workspace's learner lease; the new model goes live after commit.

    The lease is taken once this worker's own turns are serialised (under the scorer's
    lock), so two turns of one worker never share it. Raises :class:`LeaseUnavailableError`
    when the lease cannot be had in time and :class:`LeaseLostError` when it expired and
    passed on before the update was logged (nothing is kept; the caller may retry).
    """
    name, holder = learner_lease(runtime.workspace_id), holder_of(runtime.scorer)

    async def take_then_catch_up(scorer: Scorer) -> None:
        await _take(runtime.sessions, name, holder, ttl)
        await log_follower(reader, runtime.workspace_id)(scorer)

    try:
        async with (
            runtime.sessions() as reader,
            runtime.scorer.update(take_then_catch_up) as pending,
            unit_of_work(runtime.sessions) as session,
        ):
            await _fence(session, runtime, name, holder, ttl)
            yield Turn(pending, session)
            await release_lease(session=session, name=name, holder=holder, now=utcnow())
    except Exception:
        async with unit_of_work(runtime.sessions) as session:
            await release_lease(session=session, name=name, holder=holder, now=utcnow())
        raise


async def _fence(
    session: AsyncSession, runtime: Runtime, name: str, holder: str, ttl: timedelta
) -> None:
    """Keep the lease for this transaction and check nobody logged since the catch-up."""
    if not await hold_lease(session=session, name=name, holder=holder, now=utcnow(), ttl=ttl):
        raise LeaseLostError(f"{name} passed to another worker")
    if await _entries_after(session, runtime.workspace_id, runtime.scorer.log_cursor or 0):
        raise LeaseLostError(f"another worker learned while {name} was lapsing")
