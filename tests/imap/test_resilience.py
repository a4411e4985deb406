"""Faults: 200 messages through cuts and restarts, each captured once; capped backoff."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from bot.config import AppConfig
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.settings import Settings
from models.config import MailboxConfig
from tests.conftest import NOW
from tests.imap.conftest import SECRET_ENV, Dovecot, append
from tests.imap.support import (
    REP_ADDRESS,
    checkpoints,
    email_ids,
    listener,
    listening,
    quarantined,
    wait_for_emails,
)
from tests.mail_factory import distinct_messages


@pytest.mark.imap
@pytest.mark.fault
@pytest.mark.slow
async def test_every_message_is_captured_exactly_once_through_cuts_and_restarts(
    dovecot: Dovecot, settings: Settings, app_config: AppConfig, environ: dict[str, str]
) -> None:
    mails = distinct_messages(200, REP_ADDRESS, start=NOW - timedelta(hours=6))
    raws = [raw for _, raw in mails]
    mailbox = dovecot.mailbox()
    runtime = await open_runtime(settings, app_config, clock=lambda: NOW)
    try:
        with capture_logs() as logs:
            # IDLE is re-issued only every 60 s: captures below come from pushes and reconnects.
            async with listening(listener(runtime, mailbox, environ, idle_interval_s=60)):
                async with dovecot.client() as imap:
                    await append(imap, raws[:40])
                    await wait_for_emails(runtime, 40)
                    await dovecot.cut_idle_connection()
                    await append(imap, raws[40:80])  # while the listener reconnects
                    await wait_for_emails(runtime, 80)
                    await append(imap, raws[80:100])
                    await dovecot.cut_idle_connection()
                    await wait_for_emails(runtime, 100)
                await dovecot.stop()
                await dovecot.start()
                async with dovecot.client() as imap:
                    await append(imap, raws[100:150])
                    await wait_for_emails(runtime, 150)
        reconnects = [entry for entry in logs if entry["event"] == "mailbox.reconnecting"]
        assert len(reconnects) >= 3
        async with dovecot.client() as imap:
            await append(imap, raws[150:175])  # while Nudge is down
    finally:
        await close_runtime(runtime)

    runtime = await open_runtime(settings, app_config, clock=lambda: NOW)
    try:
        async with listening(listener(runtime, mailbox, environ, idle_interval_s=60)):
            async with dovecot.client() as imap:
                await append(imap, raws[175:])
            await wait_for_emails(runtime, 200)
            await dovecot.cut_idle_connection()  # one more reconnect, with nothing new
            await dovecot.wait_for_idle()
        captured = await email_ids(runtime)
        (checkpoint,) = await checkpoints(runtime)
        assert not await quarantined(runtime)
    finally:
        await close_runtime(runtime)

    assert len(captured) == 200
    assert Counter(captured) == Counter(message_id for message_id, _ in mails)
    assert checkpoint.last_uid == 200


@pytest.mark.fault
async def test_reconnects_back_off_exponentially_up_to_the_cap(
    runtime: Runtime, environ: dict[str, str]
) -> None:
    with socket.socket() as probe:  # a port where nothing listens: every connect is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = MailboxConfig(name="down", host="127.0.0.1", port=port, ssl=False, user="rep",
                            secret_env=SECRET_ENV)  # fmt: skip
    down = listener(runtime, mailbox, environ, backoff_min_s=0.04, backoff_max_s=0.16)
    with capture_logs() as logs:
        async with listening(down):
            for _ in range(250):
                if len(waits := [e["retry_in_s"] for e in logs if "retry_in_s" in e]) >= 6:
                    break
                await asyncio.sleep(0.02)
    for n, (low, high) in enumerate(
        [(0.02, 0.04), (0.04, 0.08), (0.08, 0.16)] + [(0.08, 0.16)] * 3
    ):
        assert low <= waits[n] <= high, (n, waits)
    assert all("ConnectionRefusedError" in e["error"] for e in logs if "error" in e)
