"""Append to the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import AuditEntry
from models.types import utcnow

GENESIS = "0" * 64
_CHAIN_LOCK = 7_414_017


def entry_hash(entry: AuditEntry) -> str:
    """The hash of a row's content and its predecessor's hash."""
    document = {
        "prev": entry.prev_hash,
        "at": entry.at.isoformat(),
        "workspace": entry.workspace_id,
        "actor": entry.actor,
        "action": entry.action,
        "target": [entry.target_type, entry.target_id],
        "before": entry.before,
        "after": entry.after,
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


async def record_audit(
    *,
    session: AsyncSession,
    workspace_id: int | None,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one row, chained to the last one (serialized across workers on PostgreSQL)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.exec(select(func.pg_advisory_xact_lock(_CHAIN_LOCK)))
    last = (
        await session.exec(select(AuditEntry.hash).order_by(col(AuditEntry.id).desc()).limit(1))
    ).first()
    entry = AuditEntry(
        workspace_id=workspace_id,
        at=utcnow(),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=before or {},
        after=after or {},
        prev_hash=last or GENESIS,
        hash="",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    await session.flush()
    return entry
