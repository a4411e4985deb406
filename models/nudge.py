"""The outbox of Slack messages, and the Slack events already handled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, json_field, time_field, workspace_fk

NUDGE_STATES = ("pending", "sending", "sent", "failed", "cancelled", "snoozed")


class Nudge(SQLModel, table=True):
    """A message to post; written in the transaction of the change that caused it.

    ``payload`` holds the facts to show; the poster renders them as Block Kit when sending.

    ``dedupe_key`` makes one nudge per lead per cause until something changes;
    ``parent_id`` threads a later update under the first message.

    ``state`` is ``sending`` while a post is in flight or its outcome is unknown (a crash or
    a timeout after Slack may have accepted it): ``claimed_until`` is the poster's lease, and
    before posting such a nudge again the poster looks for it in the channel. ``notes`` is
    what people did with the message (marked contacted, snoozed); when they change,
    ``notes_version`` grows and ``edit_due_at`` asks the poster to update the message.
    """

    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key"),
        Index("ix_nudge_state_due", "state", "next_attempt_at"),
        Index("ix_nudge_message", "channel_id", "message_ts"),
        Index("ix_nudge_edit_due", "edit_due_at"),
        Index("ix_nudge_recipient_sent", "recipient_id", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    cause: str = Field(max_length=32)
    dedupe_key: str = Field(max_length=300)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    deal_id: int | None = Field(default=None, foreign_key="deal.id")
    recipient_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    parent_id: int | None = Field(default=None, foreign_key="nudge.id")
    channel: str = Field(max_length=64)
    channel_id: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=32)
    payload: dict[str, Any] = json_field()
    score: int | None = None
    model_version: int | None = None
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = time_field()
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = time_field()
    claimed_until: datetime | None = time_field()
    notes: dict[str, Any] = json_field()
    notes_version: int = 0
    shown_version: int = 0
    edit_attempts: int = 0
    edit_due_at: datetime | None = time_field()


class Snooze(SQLModel, table=True):
    """No nudge about a lead or deal (``subject``, e.g. ``contact:12``) until ``until``."""

    __table_args__ = (UniqueConstraint("workspace_id", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    subject: str = Field(max_length=64)
    until: datetime = time_field(nullable=False)
    by_slack_user_id: str = Field(max_length=32)
    created_at: datetime = created_at_field()


class SlackEventReceipt(SQLModel, table=True):
    """A Slack event id seen once; Slack's retries of it cause no second effect."""

    __table_args__ = (UniqueConstraint("event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=64)
    received_at: datetime = created_at_field()
