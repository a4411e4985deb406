"""Quarantined input: list it, and try it again once the reader has been fixed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial

from sqlmodel import col, select

from bot.flows import capture_in
from bot.runtime import Runtime
from bot.sources import WEBHOOK_SOURCES
from handlers.calendar import meetings_from_ics
from handlers.mail_capture import email_inputs
from handlers.webhook import WebhookSource
from models.activity import Quarantine
from models.db import unit_of_work
from models.services.inputs import CaptureInput, QuarantineIn
from models.types import utcnow

Reader = Callable[[bytes], Sequence[CaptureInput]]


def readers(runtime: Runtime) -> dict[str, Reader]:
    """How each source's bytes are read, as live capture reads them."""
    crm = runtime.config.crm

    found: dict[str, Reader] = {
        "email": partial(
            email_inputs,
            internal_domains=crm.internal_domains,
            default_region=crm.default_region,
            max_attachment_bytes=crm.capture.max_attachment_bytes,
        ),
        "calendar": partial(meetings_from_ics, internal_domains=crm.internal_domains),
    }
    for source in WEBHOOK_SOURCES:
        found[source.name] = _webhook_reader(runtime, source)
    return found


def _webhook_reader(runtime: Runtime, source: WebhookSource) -> Reader:
    def read(raw: bytes) -> Sequence[CaptureInput]:
        return source.parse(raw, "", runtime.config.crm, runtime.clock())

    return read


async def list_quarantine(runtime: Runtime, *, include_resolved: bool = False) -> list[Quarantine]:
    """Quarantined items, oldest first."""
    query = select(Quarantine).order_by(col(Quarantine.id))
    if not include_resolved:
        query = query.where(col(Quarantine.resolved_at).is_(None))
    async with unit_of_work(runtime.sessions) as session:
        return list((await session.exec(query)).all())


async def retry_quarantine(runtime: Runtime, ids: Sequence[int] = ()) -> Counter[str]:
    """Read quarantined items again; those that now read are captured and marked resolved."""
    by_source = readers(runtime)
    outcomes: Counter[str] = Counter()
    for row in await list_quarantine(runtime):
        if ids and row.id not in ids:
            continue
        read = by_source.get(row.source)
        if read is None:
            outcomes["no reader"] += 1
            continue
        async with unit_of_work(runtime.sessions) as session:
            fresh = await session.get(Quarantine, row.id)
            assert fresh is not None
            try:
                items = read(fresh.body)
            except Exception as exc:
                items = [QuarantineIn(fresh.source, f"{type(exc).__name__}: {exc}", fresh.body)]
            still_bad = [i for i in items if isinstance(i, QuarantineIn)]
            if still_bad:
                fresh.reason = still_bad[0].reason[:1000]
                outcomes["still quarantined"] += 1
            else:
                for item in items:
                    await capture_in(session, runtime, item)
                fresh.resolved_at = utcnow()
                outcomes["resolved"] += 1
            session.add(fresh)
    return outcomes
