"""Apply or check migrations from code, on an async engine, inside a running event loop."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import models

MIGRATIONS_DIR = Path(__file__).resolve().parent
LOCK_KEY = 0x4E554447  # "NUDG": one key for every Nudge process migrating a database


def alembic_config() -> Config:
    """The alembic configuration shipped with the package."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest by default).

    On PostgreSQL, workers starting together take turns (a transaction-level advisory
    lock): the first migrates, the others then find nothing left to do.
    """
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        await connection.run_sync(_upgrade, revision)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, models.metadata))


async def pending_changes(engine: AsyncEngine) -> list[object]:
    """What autogenerate would still write: empty when migrations match the models."""
    async with engine.connect() as connection:
        return await connection.run_sync(_diff)
