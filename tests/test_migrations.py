"""Migrations build the whole schema on SQLite and PostgreSQL, and match the models exactly."""

from __future__ import annotations

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
