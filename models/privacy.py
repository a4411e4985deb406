"""Erasure: the salted hash that remains of a forgotten person, and Slack messages to retract."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, time_field, workspace_fk


class ErasureTombstone(SQLModel, table=True):
    """Stops capture of a person who asked to be forgotten, without storing who they were."""

    __table_args__ = (UniqueConstraint("workspace_id", "kind", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    kind: str = Field(max_length=16)
    digest: str = Field(max_length=64)
    created_at: datetime = created_at_field()


class SlackRetraction(SQLModel, table=True):
    """A bot message about a forgotten person, to delete (or redact) in Slack until done."""

    __table_args__ = (UniqueConstraint("workspace_id", "channel_id", "message_ts"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    channel_id: str = Field(max_length=64)
    message_ts: str = Field(max_length=32)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = created_at_field()
    done_at: datetime | None = time_field()


class ErasureKey(SQLModel, table=True):
    """The workspace's random key for tombstone digests (made at its first erasure)."""

    workspace_id: int = Field(foreign_key="workspace.id", primary_key=True)
    key: str = Field(max_length=64)
    created_at: datetime = created_at_field()
