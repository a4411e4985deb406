"""Persistence of learning: the append-only learning log and model snapshots.

Subjects and actors enter the log only as salted pseudonyms; features are the
numbers and categories of :mod:`learning.features`, never names or text.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.features import Features
from learning.pipeline import PIPELINE_VERSION, LeadModel, build_model
from learning.scorer import PendingUpdate
from models.db import query_rows, table_of
from models.learning import DriftEvent, LearningLogEntry, ModelSnapshot
from models.learning_control import LearningExclusion

OUTCOME_SOURCES = frozenset({"outcome", "import"})


def pseudonym(value: str, *, salt: str) -> str:
    """A stable, salted, one-way id for a person or user.

    >>> pseudonym("contact:42", salt="s") == pseudonym("contact:42", salt="s")
    True
    >>> len(pseudonym("contact:42", salt="s"))
    32
    """
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model with the version and outcome count it was restored at."""

    model: LeadModel
    version: int
    outcomes_seen: int


async def record_update(
    *,
    session: AsyncSession,
    pending: PendingUpdate,
    workspace_id: int,
    subject: str,
    actor: str,
    source: str,
    features: Features,
    label: bool,
    weight: float,
    snapshot_every: int,
) -> LearningLogEntry:
    """Learn on the staged model and log it in the caller's transaction (+ snapshot).

    The entry keeps the staged model's probability before the update (``predicted``), for
    model health; a drift the update revealed is stored as a :class:`DriftEvent` alongside.
    """
    step = pending.step(features, label, weight, outcome=source in OUTCOME_SOURCES)
    version = step.version
    entry = LearningLogEntry(
        workspace_id=workspace_id,
        subject=subject,
        actor=actor,
        source=source,
        features=dict(features),
        label=label,
        weight=weight,
        model_version=version,
        predicted=step.predicted,
    )
    session.add(entry)
    if step.drift is not None:
        session.add(
            DriftEvent(
                workspace_id=workspace_id,
                detector=step.drift.detector,
                model_version=version,
                detail=step.drift.detail(),
            )
        )
    await session.flush()
    if version % snapshot_every == 0:
        session.add(
            ModelSnapshot(
                workspace_id=workspace_id,
                version=version,
                pipeline_version=PIPELINE_VERSION,
                last_log_id=entry.id,
                outcomes_seen=pending.outcomes_seen,
                blob=pending.model.to_bytes(),
            )
        )
        await session.flush()
    return entry


_ENTRIES_AFTER = (
    select(LearningLogEntry)
    .where(
        LearningLogEntry.workspace_id == bindparam("workspace_id"),
        col(LearningLogEntry.id) > bindparam("after_id"),
        col(LearningLogEntry.id).not_in(select(LearningExclusion.log_id)),
    )
    .order_by(col(LearningLogEntry.id))
)
_LOG = table_of(LearningLogEntry)
_ANY_AFTER = (
    select(_LOG.c.id)
    .where(_LOG.c.workspace_id == bindparam("workspace_id"), _LOG.c.id > bindparam("after_id"))
    .limit(1)
)
"""Both built once: every capture asks whether other workers logged updates."""


async def _entries_after(
    session: AsyncSession, workspace_id: int, after_id: int | None
) -> list[LearningLogEntry]:
    params = {"workspace_id": workspace_id, "after_id": after_id or 0}
    if not await query_rows(session, _ANY_AFTER, **params):
        return []  # the usual answer, found without building log entries
    return list((await session.exec(_ENTRIES_AFTER, params=params)).all())


def _replay_onto(loaded: LoadedModel, entries: list[LearningLogEntry]) -> LoadedModel:
    model, version, outcomes = loaded.model, loaded.version, loaded.outcomes_seen
    for entry in entries:
        model.update(
            entry.features, entry.label, entry.weight, outcome=entry.source in OUTCOME_SOURCES
        )
        version = max(version + 1, entry.model_version)  # a rebuild skips versions
        outcomes += int(entry.source in OUTCOME_SOURCES)
    return LoadedModel(model, version, outcomes)


async def replay(*, session: AsyncSession, workspace_id: int) -> LoadedModel:
    """Rebuild a workspace's model from nothing but the learning log."""
    entries = await _entries_after(session, workspace_id, None)
    return _replay_onto(LoadedModel(build_model(), 0, 0), entries)


async def load_live(*, session: AsyncSession, workspace_id: int) -> LoadedModel:
    """The newest snapshot plus any logged updates after it.

    Snapshots of an older pipeline are ignored: the model is then rebuilt from the log.
    """
    result = await session.exec(
        select(ModelSnapshot)
        .where(
            ModelSnapshot.workspace_id == workspace_id,
            ModelSnapshot.pipeline_version == PIPELINE_VERSION,
        )
        .order_by(col(ModelSnapshot.version).desc())
        .limit(1)
    )
    snapshot = result.first()
    if snapshot is None:
        return await replay(session=session, workspace_id=workspace_id)
    start = LoadedModel(
        LeadModel.from_bytes(snapshot.blob), snapshot.version, snapshot.outcomes_seen
    )
    return _replay_onto(start, await _entries_after(session, workspace_id, snapshot.last_log_id))
