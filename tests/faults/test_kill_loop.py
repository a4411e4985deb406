"""SIGKILL at random points of ingestion, learning and the digest, 50 times: always consistent.

A forked worker runs the product's capture (one by one and in batches), its learning
from verdicts and the manager digest at once, as a serving process does; the test kills
it without warning, then opens Nudge again the way a restart does and checks the
invariants of :func:`tests.faults.consistency.assert_consistent`, and that the day's
digest is queued once and only once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from multiprocessing import get_context
from multiprocessing.connection import Connection

import pytest
from sqlmodel import col, select

from bot.config import AppConfig
from bot.digest import send_due_digests
from bot.flows import apply_feedback, capture, capture_all_in
from bot.lease import learner_lease
from bot.runtime import Runtime, close_runtime, open_runtime
from models.config import TeamMember
from models.db import unit_of_work
from models.jobs import JobRun, Lease
from models.nudge import Nudge
from models.types import utcnow
from tests.conftest import INTERNAL_DOMAIN, NOW, make_settings
from tests.faults.consistency import (
    assert_consistent,
    count_rows,
    patient_config,
    seed_hot_leads,
    send_lead_nudges,
    sent_lead_nudges,
    toggle,
    touch,
)

KILLS = {"sqlite": 50, "postgresql": 20}
MANAGER = TeamMember(
    slack_id="U0MGR01", email=f"morgan.lee@{INTERNAL_DOMAIN}", name="Morgan Lee",
    role="manager", tz="America/New_York",
)  # fmt: skip
"""A manager whose 08:30 digest is due at the test's clock (10:00 in New York)."""


def with_manager(config: AppConfig) -> AppConfig:
    """The team with a manager, so a digest is due while the worker runs."""
    crm = config.crm.model_copy(update={"team": (*config.crm.team, MANAGER)})
    return AppConfig(slack=config.slack, crm=crm)


async def _work(url: str, config: AppConfig, ready: Connection, seed: int) -> None:
    runtime = await open_runtime(make_settings(url), config, clock=lambda: NOW)
    rng = random.Random(seed)
    ready.send(True)

    async def ingest() -> None:
        while True:
            if rng.random() < 0.3:
                batch = [touch(rng.randrange(5000)) for _ in range(20)]
                async with unit_of_work(runtime.sessions) as session:
                    await capture_all_in(session, runtime, batch)
            else:
                await capture(runtime, touch(rng.randrange(5000)))

    async def learn() -> None:
        nudges = await sent_lead_nudges(runtime)
        while True:
            await apply_feedback(runtime, toggle(nudges, rng.randrange(1000)))

    async def digest() -> None:
        while True:
            await send_due_digests(runtime)
            await asyncio.sleep(0.02)

    await asyncio.gather(ingest(), learn(), digest())


def _worker(url: str, config: AppConfig, ready: Connection, seed: int) -> None:
    asyncio.run(_work(url, config, ready, seed))


async def _seed(url: str, config: AppConfig) -> None:
    runtime = await open_runtime(make_settings(url), config, clock=lambda: NOW)
    try:
        await seed_hot_leads(runtime, 4)
        await send_lead_nudges(runtime)
    finally:
        await close_runtime(runtime)


async def _digests(runtime: Runtime) -> int:
    """How many digests are queued; never more than the one of the day."""
    async with unit_of_work(runtime.sessions) as session:
        rows = (await session.exec(select(Nudge.dedupe_key).where(Nudge.cause == "digest"))).all()
        runs = await session.exec(select(JobRun.period).where(col(JobRun.job).like("digest:%")))
        periods = list(runs.all())
    assert len(rows) == len(set(rows)) <= 1
    assert len(periods) == len(rows), "a digest run and its message were not written together"
    return len(rows)


async def _restart_and_check(url: str, config: AppConfig) -> bool:
    """Open Nudge as a restart does, check it; True if the kill left the learner lease taken."""
    runtime = await open_runtime(make_settings(url), config, clock=lambda: NOW)
    try:
        async with unit_of_work(runtime.sessions) as session:
            lease = await session.get(Lease, learner_lease(runtime.workspace_id))
            held = lease is not None and lease.expires_at > utcnow()
        await assert_consistent(runtime)
        await _digests(runtime)
        return held
    finally:
        await close_runtime(runtime)


async def _totals(url: str, config: AppConfig) -> tuple[int, int, int]:
    runtime = await open_runtime(make_settings(url), config, clock=lambda: NOW)
    try:
        counts = await count_rows(runtime)
        return counts.activities, counts.learning_log, await _digests(runtime)
    finally:
        await close_runtime(runtime)


@pytest.mark.fault
@pytest.mark.slow
def test_killed_worker_always_restarts_consistent(
    database_url: str, app_config: AppConfig, request: pytest.FixtureRequest
) -> None:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    app_config = with_manager(patient_config(app_config))
    asyncio.run(_seed(database_url, app_config))
    forks = get_context("fork")
    rng = random.Random(8)
    held = 0
    for round_ in range(KILLS[backend]):
        reader, writer = forks.Pipe(duplex=False)
        child = forks.Process(
            target=_worker, args=(database_url, app_config, writer, round_), daemon=True
        )
        child.start()
        assert reader.poll(60), "the worker did not start"
        time.sleep(rng.uniform(0.1, 1.0))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        held += asyncio.run(_restart_and_check(database_url, app_config))
    activities, learned, digests = asyncio.run(_totals(database_url, app_config))
    assert activities > 0
    assert learned > 0
    assert digests == 1
    request.node.user_properties += [
        ("kills", KILLS[backend]),
        ("kills_mid_turn", held),
        ("activities", activities),
        ("updates_learned", learned),
        ("digests", digests),
    ]
