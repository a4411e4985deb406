"""Two transactions locking the same rows in opposite order: PostgreSQL fails one of them.

Whoever retries a clash (the webhook inbox, the mailbox reader) must recognise that failure
as "try again", not as a body or a message that cannot be stored.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.settings import to_async_url
from models.db import create_engine, is_clash
from models.services.mailboxes import is_outage


async def _lock_both(
    connection: AsyncConnection, first: int, second: int, met: asyncio.Barrier
) -> None:
    async with connection.begin():
        await connection.execute(text("UPDATE clash SET n = n + 1 WHERE id = :id"), {"id": first})
        await met.wait()
        await connection.execute(text("UPDATE clash SET n = n + 1 WHERE id = :id"), {"id": second})


async def test_a_deadlock_is_a_clash_to_retry(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite takes one writer at a time; deadlocks are PostgreSQL's")
    engine = create_engine(to_async_url(database_url))
    try:
        async with engine.begin() as setup:
            await setup.execute(text("CREATE TABLE clash (id int PRIMARY KEY, n int NOT NULL)"))
            await setup.execute(text("INSERT INTO clash VALUES (1, 0), (2, 0)"))
        met = asyncio.Barrier(2)
        async with engine.connect() as one, engine.connect() as two:
            outcomes = await asyncio.gather(
                _lock_both(one, 1, 2, met), _lock_both(two, 2, 1, met), return_exceptions=True
            )
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert len(failures) == 1, outcomes
        assert is_clash(failures[0])
        assert is_outage(failures[0])
        assert not is_clash(ValueError("a body that cannot be read"))
    finally:
        await engine.dispose()
