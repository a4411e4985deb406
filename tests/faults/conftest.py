"""A private PostgreSQL server for the fault tests that kill and restart it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.private_postgres import PrivatePostgres, server_binaries


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running server of this module's own; skipped when the server binaries are absent."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PrivatePostgres(binaries)
    try:
        server.init()
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()
