"""Guards for work that must happen once: scheduled runs and the learner's owner."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, time_field


class JobRun(SQLModel, table=True):
    """One run of a job for one period (a manager's digest for a date); unique, so it runs once."""

    __table_args__ = (UniqueConstraint("job", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    period: str = Field(max_length=100)
    worker: str = Field(max_length=100)
    started_at: datetime = created_at_field()
    finished_at: datetime | None = time_field()


class Lease(SQLModel, table=True):
    """Who owns a resource (a workspace's learner) until when; taken over once expired."""

    name: str = Field(primary_key=True, max_length=100)
    holder: str = Field(max_length=100)
    expires_at: datetime = time_field(nullable=False)
