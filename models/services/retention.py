"""Retention (``crm.retention_days``): raw bytes as received are kept only so long.

The activities captured from them stay; only the copy of what was received goes, and only
once it has been processed (a body still waiting is never dropped).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import Activity, RawItem


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
