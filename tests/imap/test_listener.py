"""The IMAP listener against a real Dovecot: backfill, IDLE push, UIDVALIDITY, bad mail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from bot.runtime import Runtime
from tests.conftest import NOW
from tests.imap.conftest import Dovecot, append
from tests.imap.support import (
    REP_ADDRESS,
    checkpoints,
    email_ids,
    listener,
    listening,
    quarantined,
    wait_for_checkpoint,
    wait_for_emails,
)
from tests.mail_factory import distinct_messages, message

pytestmark = pytest.mark.imap


async def test_backfill_honours_the_window_then_idle_pushes_new_mail(
    dovecot: Dovecot, runtime: Runtime, environ: dict[str, str]
) -> None:
    old = distinct_messages(2, REP_ADDRESS, start=NOW - timedelta(days=40), tag="old")
    recent = distinct_messages(3, REP_ADDRESS, start=NOW - timedelta(days=2), tag="recent")
    (fresh,) = distinct_messages(1, REP_ADDRESS, start=NOW, tag="fresh")
    async with dovecot.client() as imap:
        for _message_id, raw in old:
            await imap.append(raw, mailbox="INBOX", date=NOW - timedelta(days=40))
        for _message_id, raw in recent:
            await imap.append(raw, mailbox="INBOX", date=NOW - timedelta(days=2))
        mailbox = dovecot.mailbox(backfill_days=30)
        # IDLE is re-issued only every 60 s here: a quick capture proves the server's push.
        async with listening(listener(runtime, mailbox, environ, idle_interval_s=60)):
            await wait_for_emails(runtime, 3)
            await append(imap, [fresh[1]])
            assert await wait_for_emails(runtime, 4, within=5) < 4
        assert (await imap.select("INBOX")).result == "OK"
        flags = [line for line in (await imap.fetch("1:*", "(FLAGS)")).lines if b"FETCH" in line]

    assert sorted(await email_ids(runtime)) == sorted([i for i, _ in recent] + [fresh[0]])
    (checkpoint,) = await checkpoints(runtime)
    assert (checkpoint.mailbox, checkpoint.folder, checkpoint.last_uid) == ("sales", "INBOX", 6)
    assert checkpoint.uidvalidity is not None
    assert len(flags) == 6
    assert not any(b"\\Seen" in line for line in flags), "capture must not mark mail read"


async def test_without_backfill_only_new_mail_is_captured(
    dovecot: Dovecot, runtime: Runtime, environ: dict[str, str]
) -> None:
    before = distinct_messages(3, REP_ADDRESS, start=NOW - timedelta(days=1), tag="before")
    after = distinct_messages(2, REP_ADDRESS, start=NOW, tag="after")
    async with dovecot.client() as imap:
        await append(imap, [raw for _, raw in before])
        mailbox = dovecot.mailbox(backfill_days=0)
        async with listening(listener(runtime, mailbox, environ, idle_interval_s=60)):
            await wait_for_checkpoint(runtime, 0)
            await append(imap, [raw for _, raw in after])
            await wait_for_emails(runtime, 2)
    assert sorted(await email_ids(runtime)) == sorted(i for i, _ in after)


async def test_a_broken_message_is_quarantined_and_the_next_one_captured(
    dovecot: Dovecot, runtime: Runtime, environ: dict[str, str]
) -> None:
    (first, second) = distinct_messages(2, REP_ADDRESS, start=NOW - timedelta(hours=3))
    broken = b"this is not an email at all, just some bytes\r\n"
    async with dovecot.client() as imap:
        await append(imap, [first[1], broken, second[1]])
        async with listening(listener(runtime, dovecot.mailbox(), environ)):
            await wait_for_emails(runtime, 2)

    assert sorted(await email_ids(runtime)) == sorted([first[0], second[0]])
    (row,) = await quarantined(runtime)
    assert row.source == "email"
    assert row.body.startswith(b"this is not an email")
    assert "unreadable email" in row.reason
    assert row.external_id is not None
    assert row.external_id.startswith("imap:sales/INBOX/")
    assert row.external_id.endswith("/2")
    (checkpoint,) = await checkpoints(runtime)
    assert checkpoint.last_uid == 3


@pytest.mark.fault
async def test_a_new_uidvalidity_reads_the_folder_again_without_duplicates(
    dovecot: Dovecot, runtime: Runtime, environ: dict[str, str]
) -> None:
    kept = distinct_messages(3, REP_ADDRESS, start=NOW - timedelta(days=1), tag="kept")
    new = distinct_messages(2, REP_ADDRESS, start=NOW - timedelta(hours=1), tag="new")
    mailbox = dovecot.mailbox(folders=("Deals",))
    async with dovecot.client() as imap:
        assert (await imap.create("Deals")).result == "OK"
        await append(imap, [raw for _, raw in kept], folder="Deals")
        with capture_logs() as logs:
            async with listening(listener(runtime, mailbox, environ, idle_interval_s=1)):
                await wait_for_emails(runtime, 3)
                (before,) = await checkpoints(runtime)
                assert (await imap.delete("Deals")).result == "OK"
                assert (await imap.create("Deals")).result == "OK"
                # The new messages get the lowest UIDs: only a full re-read finds them.
                await append(imap, [raw for _, raw in new + kept], folder="Deals")
                await wait_for_emails(runtime, 5)
                await wait_for_checkpoint(runtime, 5)

    assert sorted(await email_ids(runtime)) == sorted(i for i, _ in kept + new)
    (after,) = await checkpoints(runtime)
    assert after.uidvalidity != before.uidvalidity
    assert any(entry["event"] == "mailbox.uidvalidity_changed" for entry in logs)


@pytest.mark.fault
async def test_a_subject_longer_than_its_column_is_cut_not_refused(
    dovecot: Dovecot, runtime: Runtime, environ: dict[str, str]
) -> None:
    """PostgreSQL refuses text longer than a column where SQLite would store it: capture cuts it."""
    good = distinct_messages(4, REP_ADDRESS, start=NOW - timedelta(hours=2))
    long = message(message_id="long-subject@prospect9.example", to=REP_ADDRESS,
                   sender=("Lee Long", "lee@prospect9.example"), sent_at=NOW - timedelta(hours=1),
                   subject="Pricing? " * 80, body="Could you send a quote?")  # fmt: skip
    async with dovecot.client() as imap:
        await append(imap, [good[0][1], good[1][1], long, good[2][1], good[3][1]])
        async with listening(listener(runtime, dovecot.mailbox(), environ)):
            await wait_for_checkpoint(runtime, 5)
    stored = sorted(await email_ids(runtime))
    assert stored == sorted([*(i for i, _ in good), "long-subject@prospect9.example"])
    assert not await quarantined(runtime)
