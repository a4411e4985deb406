"""SQLite for the async engine, called in place instead of through a helper thread.

An async SQLite driver runs every call on a helper thread and hands the answer back to
the event loop; on a short statement those two thread switches cost several times the
statement itself. SQLite on a local file answers in microseconds, so this dialect calls
Python's own ``sqlite3`` from the event loop.

One thing would then go wrong: a statement that waits for SQLite's write lock would stall
the loop, and with it the transaction holding the lock. So writers take turns before
SQLite sees them: the first write of a transaction waits (asynchronously) for the
engine's write gate, held until that transaction commits or rolls back. Reads never wait
(the database runs in WAL mode). Another *process* writing the same file, a CLI command
beside ``nudge serve`` say, can still make a statement wait, up to the busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util import await_only

DRIVER = "direct"
GATE_WAIT_S = 10.0
"""How long a write waits for another transaction's (as long as SQLite's busy timeout)."""
READS = ("SELECT", "PRAGMA", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "EXPLAIN")


def is_write(statement: str) -> bool:
    """Whether a statement may take SQLite's write lock.

    >>> is_write("  select 1"), is_write("INSERT INTO t VALUES (1)"), is_write("ROLLBACK TO x")
    (False, True, False)
    """
    return not statement.lstrip()[:9].upper().startswith(READS)


async def _at_once() -> None:
    """An awaitable that is done as soon as it starts."""


def _hand_over() -> None:
    """Pass through the event loop's side of the greenlet, without yielding to the loop.

    The async engine checks that a statement went through an await (a guard against sync
    drivers); a finished coroutine satisfies it at the cost of two greenlet switches.
    """
    await_only(_at_once())


class WriteGate:
    """Which connection's transaction may write now; the others wait their turn."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: object | None = None

    def enter(self, holder: object) -> None:
        """Wait (without blocking the loop) until ``holder`` may write."""
        if self._holder is holder:
            return
        try:
            await_only(asyncio.wait_for(self._lock.acquire(), GATE_WAIT_S))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._holder = holder

    def leave(self, holder: object) -> None:
        """``holder``'s transaction ended: let the next writer in."""
        if self._holder is holder:
            self._holder = None
            self._lock.release()


class DirectCursor:
    """A ``sqlite3`` cursor whose writes pass the gate first."""

    def __init__(self, cursor: sqlite3.Cursor, connection: DirectConnection) -> None:
        self._cursor = cursor
        self._connection = connection

    def execute(self, statement: str, parameters: Sequence[Any] = ()) -> DirectCursor:
        """Run one statement (after the gate, if it writes)."""
        self._connection.before(statement)
        self._cursor.execute(statement, parameters)
        _hand_over()
        return self

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> DirectCursor:
        """Run one statement for many rows (after the gate)."""
        self._connection.before(statement)
        self._cursor.executemany(statement, rows)
        _hand_over()
        return self

    async def _async_soft_close(self) -> None:
        """Nothing to hand over: rows are read in place (the async result asks for this)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class DirectConnection:
    """A ``sqlite3`` connection that gives the write gate back when its transaction ends."""

    def __init__(self, connection: sqlite3.Connection, gate: WriteGate) -> None:
        self._connection = connection
        self._gate = gate

    def before(self, statement: str) -> None:
        """Take the gate before this transaction's first write."""
        if is_write(statement):
            self._gate.enter(self)

    def cursor(self) -> DirectCursor:
        """A gated cursor."""
        return DirectCursor(self._connection.cursor(), self)

    def commit(self) -> None:
        """Commit and let the next writer in."""
        try:
            self._connection.commit()
        finally:
            self._gate.leave(self)

    def rollback(self) -> None:
        """Roll back and let the next writer in."""
        try:
            self._connection.rollback()
        finally:
            self._gate.leave(self)

    def close(self) -> None:
        """Close (an open transaction rolls back) and let the next writer in."""
        try:
            self._connection.close()
        finally:
            self._gate.leave(self)

    @property
    def isolation_level(self) -> str | None:
        """The driver's transaction mode (SQLAlchemy sets it for AUTOCOMMIT)."""
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, level: Literal["DEFERRED", "EXCLUSIVE", "IMMEDIATE"] | None) -> None:
        self._connection.isolation_level = level

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class DirectSQLiteDialect(SQLiteDialect_pysqlite):
    """Python's ``sqlite3``, called in place, offered to the async engine."""

    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.write_gate = WriteGate()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        """A pool tasks wait for without blocking the event loop."""
        return pool.AsyncAdaptedQueuePool

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        """A gated connection to the file."""
        return DirectConnection(sqlite3.connect(*cargs, **cparams), self.write_gate)


registry.register(f"sqlite.{DRIVER}", __name__, DirectSQLiteDialect.__name__)
