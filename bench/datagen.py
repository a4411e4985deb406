"""A large, realistic-shaped CRM database written set-based: accounts, contacts, activities.

``generate_database(url, contacts=100_000, activities=1_000_000)`` migrates the database
through Nudge itself, then inserts plain rows in chunks with single multi-row statements
(no ORM objects), so a million activities take seconds rather than an hour of capture.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.config import AppConfig
from bot.runtime import close_runtime, open_runtime
from bot.settings import Settings
from models.base import SQLModel

TABLES = SQLModel.metadata.tables
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CHUNK = 20_000
KINDS = ("email", "email", "email", "web", "meeting", "call")
TITLES = ("VP of Sales", "Head of Operations", "Analyst", "CTO", "Buyer", None)
INDUSTRIES = ("software", "retail", "finance", "health", "logistics")


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(rows, CHUNK)):
        yield chunk


async def _insert(
    connection: AsyncConnection, table: Table, rows: Iterator[dict[str, Any]]
) -> None:
    for chunk in _chunks(rows):
        await connection.execute(insert(table), chunk)


def _accounts(workspace_id: int, count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield {
            "workspace_id": workspace_id,
            "name": f"Prospect {n}",
            "domain": f"prospect{n}.example",
            "industry": INDUSTRIES[n % len(INDUSTRIES)],
            "employees": 10 + (n * 37) % 5000,
            "created_at": NOW,
        }


def _contacts(
    workspace_id: int, count: int, first_account: int, accounts: int, owner: int
) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield {
            "workspace_id": workspace_id,
            "account_id": first_account + n % accounts,
            "owner_id": owner,
            "name": f"Person {n}",
            "title": TITLES[n % len(TITLES)],
            "created_at": NOW,
        }


def _identities(workspace_id: int, first_contact: int, count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield {
            "workspace_id": workspace_id,
            "contact_id": first_contact + n,
            "kind": "email",
            "value": f"person{n}@prospect{n % 10_000}.example",
            "created_at": NOW,
        }


def _activities(
    workspace_id: int, first: tuple[int, int], contacts: int, count: int, accounts: int, owner: int
) -> Iterator[dict[str, Any]]:
    first_contact, first_account = first
    rng = random.Random(7)
    for n in range(count):
        person = rng.randrange(contacts)
        kind = KINDS[n % len(KINDS)]
        yield {
            "workspace_id": workspace_id,
            "kind": kind,
            "source": "datagen",
            "external_id": f"dg-{n}",
            "contact_id": first_contact + person,
            "account_id": first_account + person % accounts,
            "user_id": owner,
            "occurred_at": NOW - timedelta(minutes=rng.randrange(365 * 24 * 60)),
            "direction": ("inbound", "outbound")[n % 2] if kind == "email" else None,
            "facts": {"page": "pricing", "dwell_s": 60} if kind == "web" else {},
            "created_at": NOW,
        }


def _participants(
    workspace_id: int, first_activity: int, first_contact: int, count: int, contacts: int
) -> Iterator[dict[str, Any]]:
    rng = random.Random(7)
    for n in range(count):
        person = rng.randrange(contacts)
        rng.randrange(365 * 24 * 60)  # the same draws as _activities, so the pairs match
        yield {
            "workspace_id": workspace_id,
            "activity_id": first_activity + n,
            "contact_id": first_contact + person,
        }


async def _first_id(connection: AsyncConnection, table: Table) -> int:
    found = (await connection.execute(select(table.c.id).order_by(table.c.id).limit(1))).first()
    return int(found[0]) if found else 1


async def generate_database(
    settings: Settings, config: AppConfig, *, contacts: int, activities: int
) -> dict[str, int]:
    """Fill an empty database with ``contacts`` leads and ``activities`` touches; row counts."""
    runtime = await open_runtime(settings, config, clock=lambda: NOW)
    ws = runtime.workspace_id
    accounts = max(1, contacts // 10)
    try:
        async with runtime.engine.begin() as connection:
            owner = (await connection.execute(select(TABLES["user"].c.id).limit(1))).scalar_one()
            await _insert(connection, TABLES["account"], _accounts(ws, accounts))
            first_account = await _first_id(connection, TABLES["account"])
            await _insert(
                connection,
                TABLES["contact"],
                _contacts(ws, contacts, first_account, accounts, owner),
            )
            first_contact = await _first_id(connection, TABLES["contact"])
            await _insert(
                connection, TABLES["contactidentity"], _identities(ws, first_contact, contacts)
            )
            await _insert(
                connection,
                TABLES["activity"],
                _activities(
                    ws, (first_contact, first_account), contacts, activities, accounts, owner
                ),
            )
            first_activity = await _first_id(connection, TABLES["activity"])
            await _insert(
                connection,
                TABLES["activityparticipant"],
                _participants(ws, first_activity, first_contact, activities, contacts),
            )
    finally:
        await close_runtime(runtime)
    return {"accounts": accounts, "contacts": contacts, "activities": activities}


def database_size(path: Path) -> int:
    """Bytes on disk of a SQLite database and its write-ahead log."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
