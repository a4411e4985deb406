"""Counts of what Nudge holds, for `nudge stats` and `/crm health`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.activity import Activity, Quarantine, SkippedItem
from models.contact import Contact
from models.deal import Deal
from models.feedback import Feedback
from models.learning import LearningLogEntry, ModelSnapshot
from models.nudge import Nudge


async def _count(session: AsyncSession, table: type[SQLModel], workspace_id: int) -> int:
    query = (
        select(func.count())
        .select_from(table)
        .where(
            table.workspace_id == workspace_id  # type: ignore[attr-defined]
        )
    )
    return int((await session.exec(query)).one())


async def _grouped(
    session: AsyncSession, column: Any, workspace_column: Any, workspace_id: int
) -> dict[str, int]:
    query = select(column, func.count()).where(workspace_column == workspace_id).group_by(column)
    return {str(key): int(n) for key, n in (await session.exec(query)).all()}


async def workspace_stats(*, session: AsyncSession, workspace_id: int) -> dict[str, Any]:
    """Counts by kind: activities by source, nudges by state, learning and model version."""
    version = (
        await session.exec(
            select(func.count()).where(LearningLogEntry.workspace_id == workspace_id)
        )
    ).one()
    snapshot = (
        await session.exec(
            select(func.max(ModelSnapshot.version)).where(
                ModelSnapshot.workspace_id == workspace_id
            )
        )
    ).one()
    quarantined = (
        await session.exec(
            select(func.count()).where(
                col(Quarantine.workspace_id) == workspace_id, col(Quarantine.resolved_at).is_(None)
            )
        )
    ).one()
    return {
        "activities": await _grouped(session, Activity.source, Activity.workspace_id, workspace_id),
        "skipped": await _grouped(
            session, SkippedItem.reason, SkippedItem.workspace_id, workspace_id
        ),
        "contacts": await _count(session, Contact, workspace_id),
        "accounts": await _count(session, Account, workspace_id),
        "deals": await _count(session, Deal, workspace_id),
        "nudges": await _grouped(session, Nudge.state, Nudge.workspace_id, workspace_id),
        "feedback": await _count(session, Feedback, workspace_id),
        "quarantine": int(quarantined),
        "learning_log": int(version),
        "model_version": int(version),
        "snapshot_version": snapshot,
    }
