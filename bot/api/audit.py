"""``/audit``: the hash-chained audit trail, for tokens of admins (scope ``audit:read``)."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import col, select

from bot.api.framework import Call, Operation, page_of
from bot.api.schemas import AuditQuery, AuditRead, Page
from models.audit import AuditEntry
from models.services.audit import record_audit


async def list_audit(call: Call) -> Page[AuditRead]:
    """Audit rows in order, filtered; reading them is itself audited (they hold personal data)."""
    query: AuditQuery = call.query
    where: list[ColumnElement[bool]] = [col(AuditEntry.workspace_id) == call.workspace_id]
    for value, column in (
        (query.action, AuditEntry.action),
        (query.actor, AuditEntry.actor),
        (query.target_type, AuditEntry.target_type),
        (query.target_id, AuditEntry.target_id),
    ):
        if value is not None:
            where.append(col(column) == value)
    if query.since is not None:
        where.append(col(AuditEntry.at) >= query.since)
    rows, next_path = await page_of(call, select(AuditEntry), AuditEntry.id, where)
    page = Page[AuditRead](
        data=[AuditRead.model_validate(r, from_attributes=True) for r in rows], next=next_path
    )
    await record_audit(
        session=call.session, workspace_id=call.workspace_id, actor=call.actor,
        action="audit.read", target_type="audit", after={"rows": len(rows)},
    )  # fmt: skip
    return page


OPERATIONS = (
    Operation("GET", "/audit", "listAudit", "Read the audit trail", "audit:read", "audit",
              list_audit, Page[AuditRead], query=AuditQuery, role="admin"),
)  # fmt: skip
