"""The webhook inbox: bodies stored on arrival, processed after, never twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import RawItem
from models.db import add_unless_taken, query_rows, table_of
from models.integration import WebhookReceipt


async def first_signature(*, session: AsyncSession, source: str, key: str) -> bool:
    """Record a signed request's key; False if the same one came before (a replay)."""
    return await add_unless_taken(session, WebhookReceipt(source=source, signature=key[:200]))


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
    row = RawItem(
        workspace_id=workspace_id, source=source, external_id=external_id[:500],
        content_type=content_type[:100], body=body,
    )  # fmt: skip
    return await add_unless_taken(session, row)


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


@dataclass(frozen=True, slots=True)
class PendingBody:
    """A stored body to process, as plain values."""

    id: int
    source: str
    external_id: str
    content_type: str
    body: bytes


_RAW = table_of(RawItem)
_PENDING_BODIES = (
    select(*(_RAW.c[f.name] for f in fields(PendingBody)))
    .where(_RAW.c.id.in_(bindparam("ids", expanding=True)), _RAW.c.processed_at.is_(None))
    .order_by(_RAW.c.id)
    .with_for_update(skip_locked=True)
)
_MARK_PROCESSED = (
    update(_RAW)
    .where(_RAW.c.id.in_(bindparam("ids", expanding=True)))
    .values(processed_at=bindparam("at"))
)


async def lock_raws(*, session: AsyncSession, raw_ids: list[int]) -> list[PendingBody]:
    """Unprocessed bodies, oldest first, locked for this transaction (other workers skip them)."""
    return [PendingBody(*row) for row in await query_rows(session, _PENDING_BODIES, ids=raw_ids)]


async def mark_processed(*, session: AsyncSession, raw_ids: Sequence[int], at: datetime) -> None:
    """These bodies went through capture (in the caller's transaction)."""
    connection = await session.connection()
    await connection.execute(_MARK_PROCESSED, {"ids": list(raw_ids), "at": at})
