"""Quarantined input is listed with its reason, counted, and captured once a reader can read it."""

from __future__ import annotations

from datetime import timedelta

from bot.commands import stats_of
from bot.flows import capture
from bot.quarantine import list_quarantine, retry_quarantine
from bot.runtime import Runtime
from handlers.mail_capture import email_input
from models.db import unit_of_work
from models.services.capture import quarantine
from models.services.inputs import QuarantineIn
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.mail_factory import eager_thread

DOMAINS = frozenset({INTERNAL_DOMAIN})


async def test_unreadable_mail_is_kept_with_a_reason_and_counted(runtime: Runtime) -> None:
    garbage = b"\x00\x01 not mail"
    assert await capture(runtime, email_input(garbage, internal_domains=DOMAINS)) == "quarantined"
    assert await capture(runtime, email_input(garbage, internal_domains=DOMAINS)) == "quarantined"
    (row,) = await list_quarantine(runtime)
    assert row.body == garbage
    assert row.reason.startswith("unreadable email:")
    assert (await stats_of(runtime))["quarantine"] == 1
    assert await retry_quarantine(runtime) == {"still quarantined": 1}


async def test_retry_captures_what_now_reads(runtime: Runtime) -> None:
    """An item an older reader refused is captured by retry, and leaves the open list."""
    good = eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2))[1]
    async with unit_of_work(runtime.sessions) as session:
        await quarantine(
            session=session,
            workspace_id=runtime.workspace_id,
            item=QuarantineIn(source="email", reason="reader crashed (old version)", raw=good),
        )
    assert await retry_quarantine(runtime) == {"resolved": 1}
    assert await list_quarantine(runtime) == []
    assert len(await list_quarantine(runtime, include_resolved=True)) == 1
    stats = await stats_of(runtime)
    assert stats["activities"] == {"email": 1}
    assert stats["quarantine"] == 0
