"""Feedback on nudges: emoji reactions and buttons, each a weak label for the model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, time_field, workspace_fk


class Feedback(SQLModel, table=True):
    """One person's verdict on one nudge; removing the reaction sets ``reversed_at``."""

    __table_args__ = (UniqueConstraint("nudge_id", "slack_user_id", "signal"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    nudge_id: int = Field(foreign_key="nudge.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    slack_user_id: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    signal: str = Field(max_length=64)
    label: bool
    weight: float
    learned: bool = True
    score_before: int | None = None
    score_after: int | None = None
    created_at: datetime = created_at_field()
    reversed_at: datetime | None = time_field()
