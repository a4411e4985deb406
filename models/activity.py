"""Activities from every source, the raw items they came from, and quarantined input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.base import created_at_field, json_field, time_field, workspace_fk

ACTIVITY_KINDS = ("email", "meeting", "call", "web", "marketing", "note")


PENDING = text("processed_at IS NULL")


class RawItem(SQLModel, table=True):
    """The bytes as received from a source, kept for audit, re-parsing and erasure.

    Webhook bodies are stored here first and answered at once; ``processed_at`` is set
    when they have gone through the ingestion path, so a restart finishes the rest.
    """

    __table_args__ = (
        UniqueConstraint("workspace_id", "source", "external_id"),
        # The inbox asks for the oldest unprocessed bodies on every wake-up: without this
        # it would scan every body ever received.
        Index("ix_rawitem_pending", "id", sqlite_where=PENDING, postgresql_where=PENDING),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=500)
    content_type: str = Field(default="application/octet-stream", max_length=100)
    body: bytes = Field(sa_type=LargeBinary)
    received_at: datetime = created_at_field()
    processed_at: datetime | None = time_field()
    error: str | None = Field(default=None, max_length=1000)


class Activity(SQLModel, table=True):
    """One interaction, idempotent on (workspace, source, external id).

    ``contact_id`` is the main outside party; every participant is in ``ActivityParticipant``.
    """

    __table_args__ = (
        UniqueConstraint("workspace_id", "source", "external_id"),
        Index("ix_activity_contact_time", "contact_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    kind: str = Field(max_length=16)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=500)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    deal_id: int | None = Field(default=None, foreign_key="deal.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    raw_item_id: int | None = Field(default=None, foreign_key="rawitem.id")
    occurred_at: datetime = time_field(nullable=False)
    direction: str | None = Field(default=None, max_length=16)
    subject: str | None = Field(default=None, max_length=500)
    body: str | None = None
    thread_key: str | None = Field(default=None, max_length=500, index=True)
    visitor_id: str | None = Field(default=None, max_length=200, index=True)
    revision: int | None = None
    facts: dict[str, Any] = json_field()
    created_at: datetime = created_at_field()


class ActivityParticipant(SQLModel, table=True):
    """A contact taking part in an activity; the activity is on each participant's timeline."""

    __table_args__ = (
        UniqueConstraint("activity_id", "contact_id"),
        Index("ix_activityparticipant_contact", "contact_id", "activity_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    activity_id: int = Field(foreign_key="activity.id")
    contact_id: int = Field(foreign_key="contact.id")


class Quarantine(SQLModel, table=True):
    """Input that could not be understood, with the bytes and a readable reason."""

    __table_args__ = (UniqueConstraint("source", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id", index=True)
    source: str = Field(max_length=32)
    external_id: str | None = Field(default=None, max_length=500)
    reason: str = Field(max_length=1000)
    body: bytes = Field(sa_type=LargeBinary)
    digest: str = Field(max_length=64)
    received_at: datetime = created_at_field()
    resolved_at: datetime | None = time_field()


class SkippedItem(SQLModel, table=True):
    """An item deliberately not captured (auto-reply, bulk, list or internal-only mail)."""

    __table_args__ = (UniqueConstraint("workspace_id", "source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=500)
    reason: str = Field(max_length=100)
    received_at: datetime = created_at_field()
