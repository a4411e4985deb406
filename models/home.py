"""What each person's App Home last showed, so it is republished only when that changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, time_field, workspace_fk


class HomeState(SQLModel, table=True):
    """One team member's App Home: the signature of what was published, and its retries.

    ``signature`` is a digest of the facts the home shows (None: never published, or a
    refresh is owed); the publisher compares it with the current facts.
    """

    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    user_id: int = Field(foreign_key="user.id")
    signature: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    next_attempt_at: datetime | None = time_field()
    last_error: str | None = Field(default=None, max_length=200)
    published_at: datetime | None = time_field()
    created_at: datetime = created_at_field()
