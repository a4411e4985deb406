"""A PostgreSQL server of the test's own, in a temporary folder on a loopback port.

Fault tests kill its connections and restart it; the machine's shared server is never
touched. Runs as the ``postgres`` OS user when started as root (the server refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import asyncpg


def server_binaries() -> Path | None:
    """The folder with initdb and pg_ctl, newest version first; None if not installed."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for folder in reversed(folders):
        if Path(folder, "pg_ctl").exists() and Path(folder, "initdb").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivatePostgres:
    """initdb, start, restart, stop; and an admin connection to kill backends with."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="nudge-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            self.folder.chmod(0o755)
            shutil.chown(self.folder, "postgres", "postgres")

    @property
    def admin_url(self) -> str:
        """The URL of the maintenance database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        command = [*self._as_postgres, str(self.binaries / tool), *args]
        subprocess.run(command, check=check, capture_output=True, timeout=120)  # noqa: S603

    def init(self) -> None:
        """Create the cluster: trust on loopback, no fsync (the OS never crashes here)."""
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=60"
        )

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", log, "-w", "start")

    def restart(self) -> None:
        """Stop at once, as a crash would (recovery runs on start), then start again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.start()

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    async def create_database(self, name: str) -> str:
        """A new empty database; its plain URL."""
        connection = await asyncpg.connect(self.admin_url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    async def terminate_backends(self, database: str) -> int:
        """pg_terminate_backend on every session of ``database`` that is inside a transaction.

        Returns how many were killed mid-transaction (running or idle in one).
        """
        connection = await asyncpg.connect(self.admin_url)
        try:
            rows = await connection.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid() "
                "AND state IN ('active', 'idle in transaction')",
                database,
            )
        finally:
            await connection.close()
        return sum(1 for row in rows if row[0])
