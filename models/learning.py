"""What the model learned from (the learning log), its saved states, and scoring history.

Nothing here holds personal data: subjects and actors are salted pseudonyms and
features are numbers and categories only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, json_field, workspace_fk


class LearningLogEntry(SQLModel, table=True):
    """One update of a workspace's model; replaying them in id order rebuilds it exactly."""

    __table_args__ = (Index("ix_learninglogentry_ws_id", "workspace_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    subject: str = Field(max_length=64)
    actor: str = Field(max_length=64)
    source: str = Field(max_length=32)
    features: dict[str, Any] = json_field()
    label: bool
    weight: float
    model_version: int
    predicted: float | None = None
    """The model's probability for this example just before learning it (test, then train)."""
    created_at: datetime = created_at_field()


class ModelSnapshot(SQLModel, table=True):
    """A pickled model after a given learning-log entry."""

    __table_args__ = (UniqueConstraint("workspace_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    version: int
    pipeline_version: int = 0
    last_log_id: int | None = None
    outcomes_seen: int = 0
    blob: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = created_at_field()


class ScoreSnapshot(SQLModel, table=True):
    """The features and score of a lead at a moment; outcomes later label these rows."""

    __table_args__ = (Index("ix_scoresnapshot_contact_time", "contact_id", "taken_at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    contact_id: int = Field(foreign_key="contact.id")
    deal_id: int | None = Field(default=None, foreign_key="deal.id", index=True)
    features: dict[str, Any] = json_field()
    score: int
    model_version: int
    reasons: list[dict[str, Any]] = json_field(default_factory=list)
    taken_at: datetime = created_at_field()


class DriftEvent(SQLModel, table=True):
    """A change detected in the model's error stream, and what changed."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    detector: str = Field(max_length=32)
    model_version: int
    detail: dict[str, Any] = json_field()
    detected_at: datetime = created_at_field()
