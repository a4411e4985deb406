"""Two workers on one database: one learner at a time, and both models equal the learning log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.config import AppConfig
from bot.flows import apply_feedback, capture
from bot.lease import learner_lease
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.settings import Settings
from models.db import unit_of_work
from models.jobs import Lease
from models.learning import LearningLogEntry
from models.services.inputs import ActivityIn, PersonIn
from models.services.jobs import take_lease
from models.types import utcnow
from tests.conftest import NOW, REP
from tests.learning.test_replay import assert_rebuilds_live, engaged_lead, react


@pytest.fixture
async def other(settings: Settings, app_config: AppConfig) -> AsyncIterator[Runtime]:
    """A second worker on the same database, with its own live model."""
    runtime = await open_runtime(settings, app_config, clock=lambda: NOW)
    yield runtime
    await close_runtime(runtime)


async def _versions(runtime: Runtime) -> list[int]:
    async with unit_of_work(runtime.sessions) as session:
        query = select(LearningLogEntry.model_version).order_by(col(LearningLogEntry.id))
        return list((await session.exec(query)).all())


async def _touch(runtime: Runtime, name: str) -> None:
    """One more activity through the worker's capture path (which scores, so catches up)."""
    item = ActivityIn(
        source="test", external_id=f"touch-{name}", kind="email", direction="inbound",
        occurred_at=NOW - timedelta(hours=1), people=(PersonIn(email=f"{name}@late.example"),),
        rep_email=REP.email,
    )  # fmt: skip
    assert await capture(runtime, item) == "stored"


async def test_workers_learning_in_turn_continue_one_log(runtime: Runtime, other: Runtime) -> None:
    """Each worker catches up before learning, so the log never forks."""
    ana, bo, cy = [await engaged_lead(runtime, name) for name in ("ana", "bo", "cy")]
    assert await apply_feedback(runtime, react(ana, "fire")) is not None
    assert await apply_feedback(other, react(bo, "ice_cube")) is not None
    assert await apply_feedback(runtime, react(cy, "+1")) is not None
    assert await apply_feedback(other, react(ana, "fire", removed=True)) is not None
    assert await _versions(runtime) == [1, 2, 3, 4]
    await assert_rebuilds_live(other)
    await _touch(runtime, "dee")
    await assert_rebuilds_live(runtime)


async def test_concurrent_verdicts_on_two_workers_are_serialised(
    runtime: Runtime, other: Runtime
) -> None:
    """Reactions arriving together at both workers: one contiguous log, both models equal it."""
    leads = [await engaged_lead(runtime, name) for name in ("eve", "fay", "gus", "hal")]
    signals = [
        (worker, react(lead, emoji))
        for lead in leads
        for worker, emoji in ((runtime, "fire"), (other, "+1"))
    ]
    results = await asyncio.gather(*(apply_feedback(w, signal) for w, signal in signals))
    assert all(result is not None for result in results)
    assert await _versions(runtime) == list(range(1, len(signals) + 1))
    for worker in (runtime, other):
        await _touch(worker, f"late-{id(worker)}")
        await assert_rebuilds_live(worker)


async def test_a_dead_holders_lease_blocks_learning_until_it_expires(runtime: Runtime) -> None:
    """A worker that died mid-turn keeps the lease; learning resumes once it has expired."""
    ivy = await engaged_lead(runtime, "ivy")
    name = learner_lease(runtime.workspace_id)
    async with unit_of_work(runtime.sessions) as session:
        taken = await take_lease(
            session=session, name=name, holder="gone-host:1:0", now=utcnow(),
            ttl=timedelta(minutes=5),
        )  # fmt: skip
    assert taken
    turn = asyncio.create_task(apply_feedback(runtime, react(ivy, "fire")))
    await asyncio.sleep(0.5)
    assert not turn.done()
    assert await _versions(runtime) == []
    async with unit_of_work(runtime.sessions) as session:
        lease = await session.get(Lease, name)
        assert lease is not None
        lease.expires_at = utcnow() - timedelta(seconds=1)
        session.add(lease)
    result = await asyncio.wait_for(turn, timeout=30)
    assert result is not None
    assert await _versions(runtime) == [1]
    async with unit_of_work(runtime.sessions) as session:
        lease = await session.get(Lease, name)
        assert lease is not None
        assert lease.holder != "gone-host:1:0"
        assert lease.expires_at <= utcnow()
    await assert_rebuilds_live(runtime)
