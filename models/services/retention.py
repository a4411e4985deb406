"""Retention: raw bytes as received are kept only so long (``crm.retention_days``), and the
signatures kept to refuse replays only while a replay could still pass the time check.

The activities captured from raw items stay; only the copy of what was received goes, and
only once it has been processed (a body still waiting is never dropped).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import Activity, RawItem
from models.integration import WebhookReceipt


async def prune_raw_items(*, session: AsyncSession, workspace_id: int, older_than: datetime) -> int:
    """Delete processed raw items received before ``older_than``; returns how many."""
    old = select(col(RawItem.id)).where(
        RawItem.workspace_id == workspace_id,
        col(RawItem.processed_at).is_not(None),
        col(RawItem.received_at) < older_than,
    )
    await session.exec(
        update(Activity).where(col(Activity.raw_item_id).in_(old)).values(raw_item_id=None)
    )
    result = await session.exec(delete(RawItem).where(col(RawItem.id).in_(old)))
    return int(result.rowcount or 0)


async def prune_receipts(
    *, session: AsyncSession, older_than: datetime, keep: Collection[str]
) -> int:
    """Delete the signatures of requests received before ``older_than``, but those of the
    ``keep`` sources (they sign no time: their receipt is all that refuses a replay)."""
    result = await session.exec(
        delete(WebhookReceipt).where(
            col(WebhookReceipt.received_at) < older_than,
            col(WebhookReceipt.source).not_in(list(keep)),
        )
    )
    return int(result.rowcount or 0)
