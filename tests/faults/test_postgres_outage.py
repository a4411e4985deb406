"""PostgreSQL connections killed mid-transaction, then the server restarted: nothing is lost.

One Nudge runtime keeps capturing activities and learning from verdicts while the test
terminates its backends (``pg_terminate_backend``) over and over and, halfway, restarts
the server as a crash would. Every failed call is retried, as Slack and webhook senders
retry; the same runtime must recover by itself, and at the end every activity, verdict,
learning-log row and audit row is there exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import asyncpg
import pytest

from bot.config import AppConfig
from bot.flows import apply_feedback, capture
from bot.runtime import Runtime, close_runtime, open_runtime
from models.services.feedback import ButtonIn
from tests.conftest import NOW, make_settings
from tests.faults.consistency import (
    assert_consistent,
    count_rows,
    lead_nudge_ids,
    seed_hot_leads,
    touch,
)
from tests.faults.private_postgres import PrivatePostgres

T = TypeVar("T")
ITEMS = 300
VERDICT_EVERY = 6


async def _until_done(call: Callable[[], Awaitable[T]], failures: list[str]) -> T:
    """Retry a call as its sender would, until it succeeds (a minute at most)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await call()
        except Exception as exc:
            failures.append(type(exc).__name__)
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _traffic(runtime: Runtime, nudges: list[int], failures: list[str]) -> int:
    """Activities and verdicts one after another; returns how many verdicts were learned."""
    learned = 0
    for n in range(ITEMS):
        await _until_done(partial(capture, runtime, touch(n)), failures)
        if n % VERDICT_EVERY == 0:
            verdict = ButtonIn(nudges[n % len(nudges)], f"U{n:05d}", n % 4 != 0)
            result = await _until_done(partial(apply_feedback, runtime, verdict), failures)
            learned += result is not None
    return learned


async def _faults(server: PrivatePostgres, database: str, stop: asyncio.Event) -> tuple[int, int]:
    """Kill the backends in a transaction every tenth of a second or so; restart once."""
    pauses = random.Random(3)
    killed = restarts = 0
    started = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            killed += await server.terminate_backends(database)
        if not restarts and time.monotonic() - started > 1.0:
            await asyncio.to_thread(server.restart)
            restarts += 1
        await asyncio.sleep(pauses.uniform(0.05, 0.25))
    return killed, restarts


@pytest.mark.fault
@pytest.mark.postgres
async def test_killed_connections_and_a_restart_lose_nothing(
    private_postgres: PrivatePostgres, app_config: AppConfig, request: pytest.FixtureRequest
) -> None:
    database = f"nudge_fault_{uuid.uuid4().hex[:8]}"
    url = await private_postgres.create_database(database)
    runtime = await open_runtime(make_settings(url), app_config, clock=lambda: NOW)
    try:
        await seed_hot_leads(runtime, 4)
        async with runtime.sessions() as session:
            nudges = await lead_nudge_ids(session)
        before = await count_rows(runtime)
        failures: list[str] = []
        stop = asyncio.Event()
        faults = asyncio.create_task(_faults(private_postgres, database, stop))
        learned = await _traffic(runtime, nudges, failures)
        stop.set()
        killed, restarts = await faults
        after = await count_rows(runtime)
        assert after.activities - before.activities == ITEMS
        assert after.feedback - before.feedback == learned == len(range(0, ITEMS, VERDICT_EVERY))
        assert after.learning_log - before.learning_log == learned
        assert after.audit - before.audit >= learned
        assert restarts == 1
        assert killed > 0
        assert failures, "no call ever failed: the faults did not bite"
        await assert_consistent(runtime)
        async with runtime.sessions() as session:
            assert await lead_nudge_ids(session) == nudges
        request.node.user_properties += [
            ("backends_killed_mid_transaction", killed),
            ("calls_retried", len(failures)),
        ]
    finally:
        await close_runtime(runtime)
