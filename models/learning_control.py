"""Learning-log entries left out of the model by a rollback or a rebuild without a user."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, workspace_fk


class LearningExclusion(SQLModel, table=True):
    """A learning-log entry that replay skips; the entry itself stays for the record."""

    __table_args__ = (UniqueConstraint("workspace_id", "log_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    log_id: int = Field(foreign_key="learninglogentry.id", index=True)
    reason: str = Field(max_length=64)
    created_at: datetime = created_at_field()
