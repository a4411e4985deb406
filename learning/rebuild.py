"""Rebuilding the live model from the learning log: after an erasure, a rollback, or
leaving one user's feedback out.

Invariant kept: every stored snapshot equals a replay of the log entries up to its
``last_log_id`` that are neither deleted nor excluded. So whenever entries from id ``n`` on
change, snapshots after ``n`` are dropped, the model is rebuilt from the newest clean
snapshot, and the result is saved as the new newest snapshot under a **new** version number
(versions only grow, so a worker following the log sees a gap and reloads).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.pipeline import PIPELINE_VERSION
from learning.scorer import PendingUpdate
from learning.store import LoadedModel, load_live
from models.learning import LearningLogEntry, ModelSnapshot
from models.learning_control import LearningExclusion


class UnknownVersionError(ValueError):
    """No snapshot of that model version is kept."""


async def rebuild_live(
    *, session: AsyncSession, workspace_id: int, changed_from: int | None, pending: PendingUpdate
) -> LoadedModel:
    """Drop snapshots that include log entries from ``changed_from`` on, rebuild, save, adopt.

    ``pending`` is the scorer's staged update: the rebuilt model goes live when the
    caller's transaction commits.
    """
    if changed_from is not None:
        await session.exec(
            delete(ModelSnapshot).where(
                col(ModelSnapshot.workspace_id) == workspace_id,
                col(ModelSnapshot.last_log_id) >= changed_from,
            )
        )
    loaded = await load_live(session=session, workspace_id=workspace_id)
    logged = (
        await session.exec(
            select(func.max(LearningLogEntry.model_version)).where(
                LearningLogEntry.workspace_id == workspace_id
            )
        )
    ).one()
    version = max(pending.version, logged or 0) + 1
    last_id = (
        await session.exec(
            select(func.max(LearningLogEntry.id)).where(
                LearningLogEntry.workspace_id == workspace_id,
                col(LearningLogEntry.id).not_in(select(LearningExclusion.log_id)),
            )
        )
    ).one()
    session.add(
        ModelSnapshot(
            workspace_id=workspace_id,
            version=version,
            pipeline_version=PIPELINE_VERSION,
            last_log_id=last_id,
            outcomes_seen=loaded.outcomes_seen,
            blob=loaded.model.to_bytes(),
        )
    )
    await session.flush()
    pending.model, pending.version = loaded.model, version
    pending.outcomes_seen = loaded.outcomes_seen
    return LoadedModel(loaded.model, version, loaded.outcomes_seen)


async def exclude(
    *, session: AsyncSession, workspace_id: int, log_ids: Iterable[int], reason: str
) -> int | None:
    """Leave these entries out of every replay; returns the smallest id excluded."""
    ids = sorted(set(log_ids))
    session.add_all(
        LearningExclusion(workspace_id=workspace_id, log_id=i, reason=reason) for i in ids
    )
    await session.flush()
    return ids[0] if ids else None


def _included(workspace_id: int) -> Any:
    return select(LearningLogEntry.id).where(
        LearningLogEntry.workspace_id == workspace_id,
        col(LearningLogEntry.id).not_in(select(LearningExclusion.log_id)),
    )


async def rollback_to(
    *, session: AsyncSession, workspace_id: int, version: int, pending: PendingUpdate
) -> LoadedModel:
    """Make the snapshot of ``version`` live again; later log entries are kept but excluded."""
    snapshot = (
        await session.exec(
            select(ModelSnapshot).where(
                ModelSnapshot.workspace_id == workspace_id,
                ModelSnapshot.version == version,
                ModelSnapshot.pipeline_version == PIPELINE_VERSION,
            )
        )
    ).first()
    if snapshot is None:
        raise UnknownVersionError(f"no saved model v{version} (see nudge model versions)")
    later = await session.exec(
        _included(workspace_id).where(col(LearningLogEntry.id) > (snapshot.last_log_id or 0))
    )
    first = await exclude(
        session=session, workspace_id=workspace_id, log_ids=later.all(), reason="rollback"
    )
    return await rebuild_live(
        session=session, workspace_id=workspace_id, changed_from=first, pending=pending
    )


async def rebuild_without(
    *, session: AsyncSession, workspace_id: int, actor_pseudonym: str, pending: PendingUpdate
) -> tuple[int, LoadedModel]:
    """Leave every update one person caused out of the model; returns (entries, model)."""
    theirs = await session.exec(
        _included(workspace_id).where(LearningLogEntry.actor == actor_pseudonym)
    )
    ids = list(theirs.all())
    first = await exclude(
        session=session, workspace_id=workspace_id, log_ids=ids, reason="without-user"
    )
    loaded = await rebuild_live(
        session=session, workspace_id=workspace_id, changed_from=first, pending=pending
    )
    return len(ids), loaded


async def versions(
    *, session: AsyncSession, workspace_id: int, limit: int = 20
) -> list[ModelSnapshot]:
    """The newest saved model versions, for choosing one to roll back to."""
    query = (
        select(ModelSnapshot)
        .where(ModelSnapshot.workspace_id == workspace_id)
        .order_by(col(ModelSnapshot.version).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())
