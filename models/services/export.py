"""Access requests (GDPR Art. 15, CCPA): everything held about a person, as JSON-ready data."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import Activity, ActivityParticipant
from models.services.audit import record_audit
from models.services.identity import normalize_email
from models.services.purge import people_of

_SKIPPED = frozenset({"activityparticipant", "auditentry"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def _row(mapping: Any) -> dict[str, Any]:
    return {key: _plain(value) for key, value in dict(mapping).items()}


async def _referring(session: AsyncSession, table: Table, ids: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for fk in table.foreign_keys:
        if fk.column.table.name == "contact" and fk.parent.name != "merged_into_id":
            query = sa_select(table).where(fk.parent.in_(ids))
            found = await session.exec(query)  # type: ignore[call-overload]
            rows += [_row(r._mapping) for r in found.all()]
    return rows


async def export_person(
    *, session: AsyncSession, workspace_id: int, email: str, actor: str
) -> dict[str, Any]:
    """The person's contacts, every row that refers to them, and their activities; audited."""
    contacts = await people_of(session=session, workspace_id=workspace_id, email=email)
    ids = [c.id for c in contacts if c.id is not None]
    document: dict[str, Any] = {
        "email": normalize_email(email),
        "contacts": [_row(c.model_dump()) for c in contacts],
    }
    if ids:
        activity_ids = select(ActivityParticipant.activity_id).where(
            col(ActivityParticipant.contact_id).in_(ids)
        )
        activities = await session.exec(
            select(Activity)
            .where(col(Activity.id).in_(activity_ids) | col(Activity.contact_id).in_(ids))
            .order_by(col(Activity.occurred_at))
        )
        document["activity"] = [_row(a.model_dump()) for a in activities.all()]
        for table in SQLModel.metadata.sorted_tables:
            if table.name in _SKIPPED or table.name == "activity":
                continue
            rows = await _referring(session, table, ids)
            if rows:
                document[table.name] = rows
    await record_audit(
        session=session,
        workspace_id=workspace_id,
        actor=actor,
        action="privacy.exported",
        target_type="contact",
        target_id=",".join(str(i) for i in ids) or None,
        after={"tables": sorted(k for k in document if k != "email")},
    )
    return document
