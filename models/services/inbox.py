"""The webhook inbox: bodies stored on arrival, processed after, never twice."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import RawItem
from models.integration import WebhookReceipt


async def first_signature(*, session: AsyncSession, source: str, key: str) -> bool:
    """Record a signed request's key; False if the same one came before (a replay)."""
    try:
        async with session.begin_nested():
            session.add(WebhookReceipt(source=source, signature=key[:200]))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def accept_raw(
    *,
    session: AsyncSession,
    workspace_id: int,
    source: str,
    external_id: str,
    body: bytes,
    content_type: str,
) -> bool:
    """Store a body for processing; False if this item was already received."""
    try:
        async with session.begin_nested():
            session.add(
                RawItem(
                    workspace_id=workspace_id,
                    source=source,
                    external_id=external_id[:500],
                    content_type=content_type[:100],
                    body=body,
                )
            )
            await session.flush()
    except IntegrityError:
        return False
    return True


async def pending_raw(
    *, session: AsyncSession, sources: frozenset[str], limit: int = 200
) -> list[int]:
    """Ids of stored bodies not yet processed, oldest first."""
    query = (
        select(RawItem.id)
        .where(col(RawItem.processed_at).is_(None), col(RawItem.source).in_(sources))
        .order_by(col(RawItem.id))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def lock_raw(*, session: AsyncSession, raw_id: int) -> RawItem | None:
    """An unprocessed body, locked for this transaction (other workers skip it)."""
    query = (
        select(RawItem)
        .where(RawItem.id == raw_id, col(RawItem.processed_at).is_(None))
        .with_for_update(skip_locked=True)
    )
    return (await session.exec(query)).first()


async def lock_raws(*, session: AsyncSession, raw_ids: list[int]) -> list[RawItem]:
    """Unprocessed bodies, oldest first, locked for this transaction (other workers skip them)."""
    query = (
        select(RawItem)
        .where(col(RawItem.id).in_(raw_ids), col(RawItem.processed_at).is_(None))
        .order_by(col(RawItem.id))
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(query)).all())
