"""Migrations build the whole schema on SQLite and PostgreSQL, and match the models exactly."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect

import models
from bot.settings import to_async_url
from migrations.runner import pending_changes, upgrade
from models.db import create_engine


async def test_migrations_create_every_table_and_autogenerate_finds_no_difference(
    database_url: str,
) -> None:
    engine = create_engine(to_async_url(database_url))
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert set(models.metadata.tables) <= tables
        assert await pending_changes(engine) == []
        await upgrade(engine)  # a second run is a no-op, not an error
    finally:
        await engine.dispose()


async def test_workers_starting_together_on_postgresql_take_turns(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers share a database only on PostgreSQL")
    engines = [create_engine(to_async_url(database_url)) for _ in range(3)]
    try:
        async with asyncio.timeout(120):  # without turns, the DDL of the three deadlocks
            await asyncio.gather(*(upgrade(engine) for engine in engines))
        assert await pending_changes(engines[0]) == []
    finally:
        for engine in engines:
            await engine.dispose()
