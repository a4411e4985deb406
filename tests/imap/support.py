"""Helpers for the IMAP tests: run a listener, read what it captured, wait for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlmodel import func, select

from bot.mailboxes import MailboxListener
from bot.runtime import Runtime
from models.activity import Activity, Quarantine
from models.config import MailboxConfig
from models.db import unit_of_work
from models.mailbox import MailboxCheckpoint
from tests.conftest import REP

REP_ADDRESS = (REP.name, REP.email)


def listener(
    runtime: Runtime, mailbox: MailboxConfig, environ: Mapping[str, str], **timing: Any
) -> MailboxListener:
    """A listener with test timings: quick reconnects, short command timeouts."""
    options: dict[str, Any] = {"backoff_min_s": 0.05, "backoff_max_s": 0.5, "timeout_s": 5.0}
    return MailboxListener(
        runtime, mailbox, mailbox.folders[0], environ=environ, **(options | timing)
    )


@asynccontextmanager
async def listening(*listeners: MailboxListener) -> AsyncIterator[None]:
    """Run listeners for the duration of the block, then stop them as ``nudge`` would."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(each.run(stop)) for each in listeners]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)


async def email_ids(runtime: Runtime) -> list[str]:
    """External ids (Message-IDs) of every email activity, one per row."""
    async with unit_of_work(runtime.sessions) as session:
        query = select(Activity.external_id).where(Activity.source == "email")
        return list((await session.exec(query)).all())


async def quarantined(runtime: Runtime) -> list[Quarantine]:
    """Every quarantine row."""
    async with unit_of_work(runtime.sessions) as session:
        return list((await session.exec(select(Quarantine))).all())


async def checkpoints(runtime: Runtime) -> list[MailboxCheckpoint]:
    """Every mailbox checkpoint."""
    async with unit_of_work(runtime.sessions) as session:
        return list((await session.exec(select(MailboxCheckpoint))).all())


async def wait_for_emails(runtime: Runtime, count: int, *, within: float = 15) -> float:
    """Wait until ``count`` email activities exist; returns the seconds it took."""
    started = time.monotonic()
    query = select(func.count()).select_from(Activity).where(Activity.source == "email")
    while True:
        async with unit_of_work(runtime.sessions) as session:
            found = (await session.exec(query)).one()
        if found >= count:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"{found} of {count} emails captured"
        await asyncio.sleep(0.05)


async def wait_for_checkpoint(runtime: Runtime, uid: int, *, within: float = 15) -> None:
    """Wait until the (only) checkpoint exists and covers ``uid``."""
    started = time.monotonic()
    while not ((found := await checkpoints(runtime)) and found[0].last_uid >= uid):
        assert time.monotonic() - started < within, f"no checkpoint at UID {uid}: {found}"
        await asyncio.sleep(0.025)
