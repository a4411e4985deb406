"""A real Dovecot on a free loopback port for each test, with its own config, mail and state.

Plain IMAP on 127.0.0.1, one user with a password, and (on Dovecot 2.3) an ``oauth2`` passdb
that validates HS256 JWTs locally, so XOAUTH2 logins are checked by the server for real.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioimaplib
import pytest

from models.config import MailboxConfig
from tests.imap.dovecot_config import OAUTH2_KEY, PASSWORD, USER, dovecot_config

DOVECOT = Path("/usr/sbin/dovecot")
SECRET_ENV = "NUDGE_TEST_IMAP_SECRET"


async def dovecot_version() -> tuple[int, int]:
    """(major, minor) of the installed Dovecot; skips the test when there is none."""
    try:
        process = await asyncio.create_subprocess_exec(
            DOVECOT, "--version", stdout=asyncio.subprocess.PIPE
        )
    except FileNotFoundError:
        pytest.skip("IMAP tests need Dovecot: apt-get install dovecot-imapd (CI installs it)")
    out, _ = await process.communicate()
    found = re.match(rb"(\d+)\.(\d+)", out)
    assert found is not None, out
    return int(found[1]), int(found[2])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _processes(
    match: Callable[[list[str]], bool], title: Callable[[bytes], bool] = lambda _t: True
) -> list[int]:
    """Live pids whose /proc stat fields after the name (state, ppid, pgrp, ...) match."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and match(fields) and title(name):
            found.append(int(stat.parent.name))
    return found


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@dataclass
class Dovecot:
    """One Dovecot instance; ``stop`` and ``start`` keep its port, mail and state."""

    root: Path
    port: int
    version: tuple[int, int]
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start in the foreground and wait for its greeting."""
        self.process = await asyncio.create_subprocess_exec(
            DOVECOT, "-F", "-c", str(self.root / "dovecot.conf"), start_new_session=True
        )
        for _ in range(200):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if self.process.returncode is not None:
                    break
                await asyncio.sleep(0.025)
                continue
            writer.close()
            await writer.wait_closed()
            return
        log = self.root / "dovecot.log"
        raise AssertionError(f"Dovecot did not start:\n{log.read_text() if log.exists() else ''}")

    async def stop(self, *, graceful: bool = True) -> None:
        """Stop as ``systemctl stop`` does, or kill every process of the group at once.

        SIGTERM alone stops the master but leaves IMAP sessions running, so the rest of the
        group gets its SIGTERM too, as systemd sends it to the whole control group.
        """
        if self.process is None or self.process.returncode is not None:
            return
        group = self.process.pid
        if graceful:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), timeout=10)
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM if graceful else signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), timeout=10)
        deadline = time.monotonic() + 10
        while _processes(lambda fields: fields[2] == str(group)):
            assert time.monotonic() < deadline, "Dovecot processes outlived their master"
            await asyncio.sleep(0.02)

    def idle_sessions(self) -> list[int]:
        """Pids of this server's IMAP sessions that are in IDLE (from their proctitle)."""
        assert self.process is not None
        master = str(self.process.pid)
        return _processes(
            lambda fields: fields[1] == master,
            title=lambda t: t.startswith(b"dovecot/imap [") and b"IDLE]" in t,
        )

    async def wait_for_idle(self, sessions: int = 1) -> list[int]:
        """Wait (up to 10 s) until so many clients sit in IDLE; the pids of those sessions."""
        deadline = time.monotonic() + 10
        while len(pids := self.idle_sessions()) < sessions:
            assert time.monotonic() < deadline, "no IMAP session went into IDLE"
            await asyncio.sleep(0.05)
        return pids

    async def cut_idle_connection(self) -> None:
        """Kill the server side of a connection that sits in IDLE, as a network cut would."""
        for pid in await self.wait_for_idle():
            os.kill(pid, signal.SIGKILL)

    def token(self, user: str = USER, *, key: bytes = OAUTH2_KEY) -> str:
        """An OAuth2 access token (HS256 JWT) that the ``oauth2`` passdb accepts."""
        now = int(time.time())
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": user, "iat": now, "nbf": now - 5, "exp": now + 600}
        payload = header + b"." + _b64url(json.dumps(claims).encode())
        signature = _b64url(hmac.new(key, payload, hashlib.sha256).digest())
        return (payload + b"." + signature).decode()

    def mailbox(self, **fields: Any) -> MailboxConfig:
        """A mailbox of app.yaml pointing at this server."""
        values: dict[str, Any] = {
            "name": "sales", "host": "127.0.0.1", "port": self.port, "ssl": False,
            "user": USER, "secret_env": SECRET_ENV, "backfill_days": 30,
        }  # fmt: skip
        return MailboxConfig.model_validate(values | fields)

    @asynccontextmanager
    async def client(self) -> AsyncIterator[aioimaplib.IMAP4]:
        """A logged-in client for the test's own APPEND, CREATE and DELETE."""
        imap = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=10)
        try:
            await imap.wait_hello_from_server()
            assert (await imap.login(USER, PASSWORD)).result == "OK"
            yield imap
        finally:
            if imap.protocol.transport is not None:
                imap.protocol.transport.close()


async def append(imap: aioimaplib.IMAP4, messages: list[bytes], folder: str = "INBOX") -> None:
    """APPEND each message; fails the test on a refusal."""
    for raw in messages:
        response = await imap.append(raw, mailbox=folder)
        assert response.result == "OK", response


def _prepare(root: Path, port: int, version: tuple[int, int]) -> None:
    root.chmod(0o755)
    for name in ("run", "state", "mail", "home"):
        (root / name).mkdir()
    if os.geteuid() == 0:
        for name in ("mail", "home"):
            shutil.chown(root / name, "dovecot", "dovecot")
    (root / "dovecot.conf").write_text(dovecot_config(root, port, version))


@pytest.fixture
async def dovecot() -> AsyncIterator[Dovecot]:
    """A running Dovecot, killed with all its processes at the end of the test.

    Its folder is outside pytest's private temp dir so that Dovecot's own users can enter it.
    """
    version = await dovecot_version()
    root = Path(tempfile.mkdtemp(prefix="nudge-dovecot-"))
    try:
        server = Dovecot(root, _free_port(), version)
        _prepare(root, server.port, version)
        await server.start()
        try:
            yield server
        finally:
            await server.stop(graceful=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def environ() -> dict[str, str]:
    """The environment the listener reads its secret from."""
    return {SECRET_ENV: PASSWORD}
