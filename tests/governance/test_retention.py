"""Retention from app.yaml (``crm.retention_days``), applied once a day by the scheduler:
audit rows past it are pruned (the chain still verifies), and so are raw items already
processed; a body still waiting is kept, and so is every activity captured."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.config import AppConfig
from bot.flows import capture
from bot.runtime import Runtime
from bot.scheduler import daily_retention
from models.activity import Activity, RawItem
from models.audit import AuditEntry
from models.db import unit_of_work
from models.integration import WebhookReceipt
from models.services.audit import verify_chain
from models.services.inputs import ActivityIn, PersonIn
from models.types import utcnow
from tests.conftest import NOW, REP


async def _mail(runtime: Runtime, external_id: str) -> None:
    await capture(
        runtime,
        ActivityIn(
            source="email", external_id=external_id, kind="email", occurred_at=NOW,
            people=(PersonIn(email="ana@globex.example", name="Ana Silva"),),
            direction="inbound", rep_email=REP.email, raw=b"Subject: hello\r\n\r\nhi",
        ),
    )  # fmt: skip


async def test_a_day_later_what_is_past_retention_is_gone_and_the_rest_kept(
    runtime: Runtime,
) -> None:
    await _mail(runtime, "m1")
    async with unit_of_work(runtime.sessions) as session:
        session.add(RawItem(workspace_id=runtime.workspace_id, source="marketing",
                            external_id="waiting", body=b"{}"))  # fmt: skip
    crm = runtime.config.crm.model_copy(update={"retention_days": {"audit": 30, "raw_items": 30}})
    runtime.config = AppConfig(slack=runtime.config.slack, crm=crm)
    runtime.clock = lambda: NOW + timedelta(days=60)

    assert await daily_retention(runtime) >= 2
    assert await daily_retention(runtime) == 0  # once a day, however many workers ask

    async with unit_of_work(runtime.sessions) as session:
        raws = (await session.exec(select(RawItem.external_id))).all()
        activities = (await session.exec(select(Activity))).all()
        actions = await session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id)))
        report = await verify_chain(session=session)
    assert list(raws) == ["waiting"]  # not processed yet: never dropped
    assert [(a.external_id, a.raw_item_id) for a in activities] == [("m1", None)]
    assert list(actions.all()) == ["audit.pruned", "raw_items.pruned"]
    assert report.ok


async def test_request_signatures_are_forgotten_a_day_on_but_twilios(runtime: Runtime) -> None:
    now, before = utcnow(), utcnow() - timedelta(days=2)
    async with unit_of_work(runtime.sessions) as session:
        session.add_all([
            WebhookReceipt(source="slack", signature="old", received_at=before),
            WebhookReceipt(source="marketing", signature="old", received_at=before),
            WebhookReceipt(source="twilio", signature="old", received_at=before),
            WebhookReceipt(source="slack", signature="new", received_at=now),
        ])  # fmt: skip

    assert await daily_retention(runtime) == 2

    async with unit_of_work(runtime.sessions) as session:
        kept = (await session.exec(select(WebhookReceipt.source, WebhookReceipt.signature))).all()
    assert sorted(kept) == [("slack", "new"), ("twilio", "old")]  # Twilio signs no time
