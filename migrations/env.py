"""Alembic environment: metadata from ``models``, URL and connection from Nudge's runner."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import models
from bot.settings import Settings
from models.db import create_engine

config = context.config
target_metadata = models.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    url = config.get_main_option("sqlalchemy.url") or Settings().async_database_url
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


given = config.attributes.get("connection")
if isinstance(given, Connection):
    _configure(given)
else:
    asyncio.run(_run_with_own_engine())
