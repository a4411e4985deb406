"""SIGKILL at random points of ingestion and learning, 50 times: every restart finds it consistent.

A forked worker runs the product's capture (one by one and in batches) and its learning
from verdicts at once, as a serving process does; the test kills it without warning, then
opens Nudge again the way a restart does and checks the invariants of
:func:`tests.faults.consistency.assert_consistent`.
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

from bot.config import AppConfig
from bot.flows import apply_feedback, capture, capture_all_in
from bot.lease import learner_lease
from bot.runtime import close_runtime, open_runtime
from models.db import unit_of_work
from models.jobs import Lease
from models.types import utcnow
from tests.conftest import NOW, make_settings
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

    await asyncio.gather(ingest(), learn())


def _worker(url: str, config: AppConfig, ready: Connection, seed: int) -> None:
    asyncio.run(_work(url, config, ready, seed))


async def _seed(url: str, config: AppConfig) -> None:
    runtime = await open_runtime(make_settings(url), config, clock=lambda: NOW)
    try:
        await seed_hot_leads(runtime, 4)
        await send_lead_nudges(runtime)
    finally:
        await close_runtime(runtime)


async def _restart_and_check(url: str, config: AppConfig) -> bool:
    """Open Nudge as a restart does, check it; True if the kill left the learner lease taken."""
    runtime = await open_runtime(make_settings(url), config, clock=lambda: NOW)
    try:
        async with unit_of_work(runtime.sessions) as session:
            lease = await session.get(Lease, learner_lease(runtime.workspace_id))
            held = lease is not None and lease.expires_at > utcnow()
        await assert_consistent(runtime)
        return held
    finally:
        await close_runtime(runtime)


async def _totals(url: str, config: AppConfig) -> tuple[int, int]:
    runtime = await open_runtime(make_settings(url), config, clock=lambda: NOW)
    try:
        counts = await count_rows(runtime)
        return counts.activities, counts.learning_log
    finally:
        await close_runtime(runtime)


@pytest.mark.fault
@pytest.mark.slow
def test_killed_worker_always_restarts_consistent(
    database_url: str, app_config: AppConfig, request: pytest.FixtureRequest
) -> None:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    app_config = patient_config(app_config)
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
    activities, learned = asyncio.run(_totals(database_url, app_config))
    assert activities > 0
    assert learned > 0
    request.node.user_properties += [
        ("kills", KILLS[backend]),
        ("kills_mid_turn", held),
        ("activities", activities),
        ("updates_learned", learned),
    ]
