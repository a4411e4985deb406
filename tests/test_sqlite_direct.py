"""The in-place SQLite driver: writers take turns without ever stalling the event loop."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import create_engine

HOLD_S = 0.3


async def _table(folder: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite:///{folder / 'gate.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE gate (n INTEGER NOT NULL)"))
    return engine


async def test_a_second_writer_waits_its_turn_while_the_loop_runs_on(tmp_path: Path) -> None:
    engine = await _table(tmp_path)
    first_wrote = asyncio.Event()
    ticks: list[float] = []

    async def first() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO gate VALUES (1)"))
            first_wrote.set()
            await asyncio.sleep(HOLD_S)  # holds SQLite's write lock, yields to the loop

    async def second() -> float:
        await first_wrote.wait()
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO gate VALUES (2)"))
        return time.perf_counter()

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    try:
        _none, second_done = await asyncio.gather(first(), second())
    finally:
        ticking.cancel()
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT n FROM gate ORDER BY rowid"))).all()
    await engine.dispose()
    assert [n for (n,) in rows] == [1, 2]
    assert second_done - started >= HOLD_S  # it waited for the first to commit
    gaps = [b - a for a, b in pairwise(ticks)]
    assert max(gaps) < HOLD_S, "the event loop stalled while a writer waited"  # a stall lasts 10 s


async def test_a_rolled_back_writer_lets_the_next_one_in(tmp_path: Path) -> None:
    engine = await _table(tmp_path)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO gate VALUES (1)"))
            raise RuntimeError("changed its mind")
    except RuntimeError:
        pass
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO gate VALUES (2)"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT n FROM gate"))).all() == [(2,)]
    await engine.dispose()
