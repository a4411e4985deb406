"""The async engine, the session factory and the unit of work around every service call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Executable, Insert, Row, Table, event, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from models.sqlite_direct import DRIVER as SQLITE_DRIVER

SessionFactory = async_sessionmaker[AsyncSession]
AnyRow = Row[*tuple[Any, ...]]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _begin_before_savepoint(connection: Connection, _name: str | None) -> None:
    """SQLite's Python driver opens a transaction only before a write, so a SAVEPOINT that
    comes first would be the outermost transaction and its RELEASE would commit alone,
    apart from the rest of the unit of work. Open the real transaction first."""
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:  # a write may already have opened it
        connection.exec_driver_sql("BEGIN")


def create_engine(async_url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys, a busy timeout, its folder, and the
    in-place driver of :mod:`models.sqlite_direct`."""
    url = make_url(async_url)
    if url.get_backend_name() == "sqlite":
        url = url.set(drivername=f"sqlite+{SQLITE_DRIVER}")
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "savepoint", _begin_before_savepoint)
        return engine
    return create_async_engine(async_url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block ends, roll back if it raises."""
    async with sessions() as session, session.begin():
        yield session


async def add_unless_taken(session: AsyncSession, *rows: SQLModel) -> bool:
    """Add rows in a savepoint of their own; False, with nothing added, if a unique key says
    another writer (another worker, a second press of a button) has them already.

    The rest of the caller's transaction is unharmed either way.
    """
    try:
        async with session.begin_nested():
            session.add_all(rows)
            await session.flush()
    except IntegrityError:
        return False
    return True


def table_of(model: type[SQLModel]) -> Table:
    """The table behind a model, for queries built once and run as plain SQL."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


async def query_rows(session: AsyncSession, statement: Executable, **params: Any) -> list[AnyRow]:
    """Run a plain (not ORM) query built once, in the session's transaction, after flushing
    what the session holds; returns its rows.

    A statement built once skips the cost of building it and of computing its cache key on
    every call, which is most of a short query's cost here.
    """
    await session.flush()
    connection = await session.connection()
    return list((await connection.execute(statement, params)).all())


async def insert_rows(
    session: AsyncSession, table: type[SQLModel], rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert plain rows into one table in a single statement; returns their ids in order.

    Much cheaper than the unit of work for thousands of rows: no ORM objects are built.
    SQLite cannot promise the order of RETURNING rows, and asking SQLAlchemy for it makes
    one statement a row; but SQLite gives the rows of one INSERT new ids one above the
    table's largest, in the order they are listed, so the ids sorted are in input order.
    """
    if not rows:
        return []
    await session.flush()
    connection = await session.connection()
    sqlite = connection.dialect.name == "sqlite"
    statement = _insert_statement(table_of(table), ordered=not sqlite)
    ids = [int(i) for i in (await connection.execute(statement, list(rows))).scalars()]
    return sorted(ids) if sqlite else ids


async def insert_missing(
    session: AsyncSession, table: type[SQLModel], rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert plain rows in one statement, skipping any a unique key says are there already
    (another worker wrote them a moment earlier); returns the ids of the rows written.

    The batch form of :func:`add_unless_taken`: no savepoint per row.
    """
    if not rows:
        return []
    await session.flush()
    connection = await session.connection()
    statement = _insert_missing_statement(table_of(table), connection.dialect.name)
    return [int(i) for i in (await connection.execute(statement, list(rows))).scalars()]


@cache
def _insert_missing_statement(table: Table, dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once per table and dialect."""
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return upsert(table).on_conflict_do_nothing().returning(table.c.id)


@cache
def _insert_statement(table: Table, *, ordered: bool) -> Insert:
    """INSERT ... RETURNING id for a table, built once."""
    return insert(table).returning(table.c.id, sort_by_parameter_order=ordered)


CLASH_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected


def is_lock_conflict(exc: BaseException) -> bool:
    """PostgreSQL gave up on this transaction to let another go on (deadlock, serialization).

    Its asyncpg driver reports these as plain database errors; the transaction can simply
    be tried again.
    """
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and state in CLASH_STATES


def is_clash(exc: BaseException) -> bool:
    """Another transaction wrote the same rows at the same moment: trying again will pass.

    A unique key taken meanwhile, a lock wait that timed out (SQLite's "database is
    locked"), or a lock conflict PostgreSQL resolved by failing this side.

    >>> is_clash(IntegrityError("INSERT", {}, Exception("unique"))), is_clash(ValueError())
    (True, False)
    """
    return isinstance(exc, IntegrityError | OperationalError) or is_lock_conflict(exc)
