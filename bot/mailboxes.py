"""IMAP listeners: one connection per mailbox folder, in IDLE, resumed from a checkpoint.

A message is stored in the transaction that moves its checkpoint (never lost or repeated); a
new UIDVALIDITY re-reads the folder; any connection error leads to a capped-backoff reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import ssl
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from contextlib import suppress
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import timedelta
from typing import Any, NamedTuple

import aioimaplib
import structlog

from bot.runtime import Runtime
from handlers.mail_capture import SOURCE, email_inputs
from models.config import MailboxConfig
from models.db import unit_of_work
from models.services.inputs import QuarantineIn
from models.services.mailboxes import FetchedMail, Place, get_checkpoint, store_mail

log = structlog.get_logger(__name__)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CODE = re.compile(rb"\[(UIDVALIDITY|UIDNEXT) (\d+)\]")
_FETCH = re.compile(rb"\d+ FETCH \((.*)\{\d+\}$")
_UID = re.compile(rb"UID (\d+)")


class MailboxError(RuntimeError):
    """The server refused a command or the mailbox is not usable; the message says why."""


class Folder(NamedTuple):
    """What SELECT says about a folder."""

    uidvalidity: int
    uidnext: int


def parse_select(lines: Sequence[bytes]) -> Folder:
    """UIDVALIDITY and UIDNEXT from a SELECT response.

    >>> parse_select([b"3 EXISTS", b"OK [UIDVALIDITY 1795] UIDs valid", b"OK [UIDNEXT 4] Next"])
    Folder(uidvalidity=1795, uidnext=4)
    """
    codes = {m[1]: int(m[2]) for line in lines if (m := _CODE.search(line))}
    if b"UIDVALIDITY" not in codes or b"UIDNEXT" not in codes:
        raise MailboxError("the server sent no UIDVALIDITY or UIDNEXT on SELECT")
    return Folder(codes[b"UIDVALIDITY"], codes[b"UIDNEXT"])


def parse_fetch(lines: Sequence[bytes]) -> list[tuple[int, bytes]]:
    """(UID, message bytes) pairs from a ``UID FETCH ... (UID BODY.PEEK[])`` response.

    >>> parse_fetch([b"1 FETCH (UID 7 BODY[] {2}", bytearray(b"hi"), b")", b"Fetch completed"])
    [(7, b'hi')]
    >>> parse_fetch([b"1 FETCH (BODY[] {2}", bytearray(b"hi"), b" UID 8)", b"Fetch completed"])
    [(8, b'hi')]
    """
    found = []
    for n, line in enumerate(lines):
        if isinstance(line, bytearray) or (head := _FETCH.match(line)) is None:
            continue
        body, tail, *_ = [*lines[n + 1 : n + 3], b"", b""]
        body, tail = (body, tail) if isinstance(body, bytearray) else (b"", body)
        if uid := _UID.search(head[1]) or _UID.match(tail.strip()):
            found.append((int(uid[1]), bytes(body)))
    return found


class _Connection:
    """An aioimaplib client whose commands fail fast when the socket drops."""

    def __init__(self, mailbox: MailboxConfig, timeout_s: float) -> None:
        self.lost = asyncio.Event()
        context = ssl.create_default_context() if mailbox.ssl else None
        self.client = aioimaplib.IMAP4(
            host=mailbox.host, port=mailbox.port, timeout=timeout_s,
            conn_lost_cb=lambda _exc: self.lost.set(), ssl_context=context,
        )  # fmt: skip

    async def wait(self, awaitable: Awaitable[Any], what: str, within: float | None) -> Any:
        """Await one step; ConnectionError if the socket drops or ``within`` s pass first."""
        task, lost = asyncio.ensure_future(awaitable), asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait(
                {task, lost}, timeout=within, return_when="FIRST_COMPLETED"
            )
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
        if task not in done:
            raise ConnectionError(f"connection lost or timed out during {what}")
        return task.result()

    async def command(self, aw: Awaitable[Any], what: str, within: float | None = None) -> Any:
        """The response lines of one command; MailboxError if the server refuses it."""
        response = await self.wait(aw, what, within)
        if response.result != "OK":
            raise MailboxError(f"{what} refused: {response.result}")
        return list(response.lines)

    async def wait_push(self, idle: asyncio.Future[Any], stop: asyncio.Event) -> Any:
        """The next lines the server pushes during IDLE; None when IDLE should end."""
        push = asyncio.ensure_future(self.client.wait_server_push(timeout=None))
        others = [asyncio.ensure_future(e.wait()) for e in (stop, self.lost)]
        try:
            await asyncio.wait({push, idle, *others}, return_when="FIRST_COMPLETED")
        finally:
            for waiter in (push, *others):
                waiter.cancel()
        if not push.done() or push.cancelled() or idle.done():
            return None
        lines = push.result()
        return lines if lines != aioimaplib.STOP_WAIT_SERVER_PUSH else None

    def close(self) -> None:
        for task in (*self.client.tasks, *self.client.protocol.tasks):
            task.cancel()
        if (transport := self.client.protocol.transport) is not None:
            transport.close()


@dataclass
class MailboxListener:
    """Captures one folder of one mailbox for as long as ``run`` runs."""

    runtime: Runtime
    mailbox: MailboxConfig
    folder: str
    _: KW_ONLY
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    idle_interval_s: float = 9 * 60  # IDLE re-issued this often: Gmail drops it after ~10 min
    backoff_min_s: float = 1.0  # first reconnect delay, doubled per failure up to the max
    backoff_max_s: float = 60.0
    timeout_s: float = 30.0  # for one command (a fetch: between two pieces of data)
    batch: int = 20  # messages per UID FETCH

    def __post_init__(self) -> None:
        self._delay = self.backoff_min_s
        self._log = log.bind(mailbox=self.mailbox.name, folder=self.folder)

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; every failure is followed by a reconnect."""
        logging.getLogger("aioimaplib").setLevel(logging.WARNING)  # its debug log shows mail
        while not stop.is_set():
            try:
                await self._session(stop)
            except Exception as exc:
                wait = round(self._delay * random.uniform(0.5, 1.0), 2)
                self._delay = min(self._delay * 2, self.backoff_max_s)
                self._log.warning("mailbox.reconnecting", error=repr(exc), retry_in_s=wait)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)

    async def _session(self, stop: asyncio.Event) -> None:
        connection = _Connection(self.mailbox, self.timeout_s)
        try:
            await self._login(connection)
            while not stop.is_set():
                lines = await connection.command(connection.client.select(self.folder), "SELECT")
                if not await self._catch_up(connection, parse_select(lines), stop):
                    await self._idle(connection, stop)
                self._delay = self.backoff_min_s  # a full round worked: the next failure is new
            with suppress(Exception):
                await connection.command(connection.client.logout(), "LOGOUT", 2)
        finally:
            connection.close()

    async def _login(self, connection: _Connection) -> None:
        secret = self.environ.get(self.mailbox.secret_env)
        if not secret:
            raise MailboxError(f"{self.mailbox.secret_env} is not set")
        client = connection.client
        await connection.wait(client.wait_hello_from_server(), "greeting", None)
        login = client.xoauth2 if self.mailbox.auth == "xoauth2" else client.login
        await connection.command(login(self.mailbox.user, secret), f"login ({self.mailbox.auth})")

    async def _plan(self, folder: Folder) -> tuple[int, list[str]] | None:
        """(last UID kept, UID SEARCH criteria), or None when nothing new can be there."""
        async with unit_of_work(self.runtime.sessions) as session:
            checkpoint = await get_checkpoint(
                session=session, workspace_id=self.runtime.workspace_id,
                mailbox=self.mailbox.name, folder=self.folder,
            )  # fmt: skip
        if checkpoint is not None and checkpoint.uidvalidity == folder.uidvalidity:
            last = checkpoint.last_uid
            return None if folder.uidnext - 1 <= last else (last, ["UID", f"{last + 1}:*"])
        if checkpoint is not None:
            self._log.warning("mailbox.uidvalidity_changed", resync=True)
        if days := self.mailbox.backfill_days:
            since = self.runtime.clock() - timedelta(days=days)  # IMAP dates ignore the locale:
            return 0, ["SINCE", f"{since.day:02d}-{_MONTHS[since.month - 1]}-{since.year}"]
        return 0, ["ALL"] if checkpoint is not None else []

    async def _catch_up(self, connection: _Connection, folder: Folder, stop: asyncio.Event) -> bool:
        """Capture what arrived since the checkpoint; False when there was nothing to ask."""
        if (plan := await self._plan(folder)) is None:
            return False
        last, criteria = plan
        uids: list[int] = []
        if criteria:
            search = connection.client.uid_search(*criteria, charset=None)
            lines = await connection.command(search, "UID SEARCH")
            uids = sorted(u for line in lines[:-1] for u in map(int, line.split()) if u > last)
        outcomes: Counter[str] = Counter()
        for start in range(0, len(uids), self.batch):
            if stop.is_set():
                return True
            chunk = uids[start : start + self.batch]
            fetch = connection.client.uid("fetch", ",".join(map(str, chunk)), "(UID BODY.PEEK[])")
            fetched = parse_fetch(await connection.command(fetch, "UID FETCH"))
            mail = [self._read(folder.uidvalidity, uid, raw) for uid, raw in sorted(fetched)]
            outcomes += await self._save(folder, mail, chunk[-1])
        await self._save(folder, [], max([folder.uidnext - 1, *uids]))
        self._log.info("mailbox.caught_up", messages=len(uids), **outcomes)
        return True

    async def _idle(self, connection: _Connection, stop: asyncio.Event) -> None:
        """Wait in IDLE for new mail, the re-issue interval, ``stop`` or a dropped socket."""
        start = connection.client.idle_start(timeout=self.idle_interval_s)
        idle = await connection.wait(start, "IDLE", self.timeout_s)
        while (lines := await connection.wait_push(idle, stop)) is not None:
            if any(b"EXISTS" in line for line in lines):
                break
        if connection.lost.is_set():
            raise ConnectionError("connection lost during IDLE")
        if not idle.done():
            connection.client.idle_done()
        await connection.command(idle, "IDLE", self.timeout_s)

    def _read(self, uidvalidity: int, uid: int, raw: bytes) -> FetchedMail:
        """What one message reads as; a quarantined one says where it was found."""
        where = f"imap:{self.mailbox.name}/{self.folder}/{uidvalidity}/{uid}"
        crm = self.runtime.config.crm
        try:
            items = email_inputs(
                raw,
                internal_domains=crm.internal_domains,
                default_region=crm.default_region,
                max_attachment_bytes=crm.capture.max_attachment_bytes,
            )
        except Exception as exc:  # a reader bug must not stop the folder
            self._log.exception("mailbox.unreadable", uid=uid)
            items = [QuarantineIn(SOURCE, f"cannot read: {type(exc).__name__}", raw)]
        located = [replace(i, external_id=i.external_id or where) for i in items]
        return FetchedMail(uid, where, raw, located)

    async def _save(self, folder: Folder, mail: list[FetchedMail], through: int) -> Counter[str]:
        """Store fetched mail and move the checkpoint to ``through``, in one transaction."""
        place = Place(self.runtime.workspace_id, self.mailbox.name, self.folder, folder.uidvalidity)
        async with unit_of_work(self.runtime.sessions) as session:
            return await store_mail(
                session=session, scorer=self.runtime.scorer, config=self.runtime.config.crm,
                place=place, mail=mail, through=through, now=self.runtime.clock(),
                on_error=lambda message, exc: self._log.error(
                    "mailbox.capture_failed", uid=message.uid, exc_info=exc
                ),
            )  # fmt: skip


def start_listeners(
    runtime: Runtime, stop: asyncio.Event, *, environ: Mapping[str, str] = os.environ
) -> list[asyncio.Task[None]]:
    """One task per configured mailbox folder, running until ``stop`` is set."""
    return [
        asyncio.create_task(MailboxListener(runtime, mailbox, folder, environ=environ).run(stop))
        for mailbox in runtime.config.crm.mailboxes
        for folder in mailbox.folders
    ]
