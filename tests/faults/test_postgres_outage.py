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
from models.nudge import Nudge
from tests.conftest import NOW, make_settings
from tests.faults.consistency import (
    assert_consistent,
    count_rows,
    patient_config,
    seed_hot_leads,
    send_lead_nudges,
    toggle,
    touch,
)
from tests.faults.private_postgres import PrivatePostgres

T = TypeVar("T")
ITEMS = 120
VERDICT_EVERY = 4


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


async def _traffic(runtime: Runtime, nudges: list[Nudge], failures: list[str]) -> int:
    """Activities and verdicts one after another; returns how many verdicts were sent.

    A retry may find its first attempt committed after all (the connection died after the
    commit): it then has no effect, which is what makes retrying safe.
    """
    verdicts = 0
    for n in range(ITEMS):
        await _until_done(partial(capture, runtime, touch(n)), failures)
        if n % VERDICT_EVERY == 0:
            verdict = toggle(nudges, verdicts)
            await _until_done(partial(apply_feedback, runtime, verdict), failures)
            verdicts += 1
    return verdicts


async def _faults(server: PrivatePostgres, database: str, stop: asyncio.Event) -> tuple[int, int]:
    """Kill the backends in a transaction a few times a second; restart the server once."""
    pauses = random.Random(3)
    killed = restarts = 0
    started = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            killed += await server.terminate_backends(database)
        if not restarts and time.monotonic() - started > 1.0:
            await asyncio.to_thread(server.restart)
            restarts += 1
        await asyncio.sleep(pauses.uniform(0.15, 0.5))
    return killed, restarts


@pytest.mark.fault
@pytest.mark.postgres
async def test_killed_connections_and_a_restart_lose_nothing(
    private_postgres: PrivatePostgres, app_config: AppConfig, request: pytest.FixtureRequest
) -> None:
    database = f"nudge_fault_{uuid.uuid4().hex[:8]}"
    url = await private_postgres.create_database(database)
    config = patient_config(app_config)
    runtime = await open_runtime(make_settings(url), config, clock=lambda: NOW)
    try:
        await seed_hot_leads(runtime, 4)
        nudges = await send_lead_nudges(runtime)
        before = await count_rows(runtime)
        failures: list[str] = []
        stop = asyncio.Event()
        faults = asyncio.create_task(_faults(private_postgres, database, stop))
        verdicts = await _traffic(runtime, nudges, failures)
        stop.set()
        killed, restarts = await faults
        after = await count_rows(runtime)
        assert after.activities - before.activities == ITEMS
        assert after.learning_log - before.learning_log == verdicts
        assert after.feedback_audit - before.feedback_audit == verdicts
        assert restarts == 1
        assert killed > 0
        assert failures, "no call ever failed: the faults did not bite"
        await assert_consistent(runtime)
        request.node.user_properties += [
            ("backends_killed_mid_transaction", killed),
            ("calls_retried", len(failures)),
        ]
    finally:
        await close_runtime(runtime)
