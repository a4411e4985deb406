"""Integration API tokens, outbound webhooks, and the replay guard for inbound ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, json_field, time_field, workspace_fk


class ApiToken(SQLModel, table=True):
    """A bearer token, stored only as a hash, with the scopes it grants.

    ``user_id`` is the person the token acts as: every call sees what their current role
    lets them see. A token without one (made before tokens had a person) is refused.
    """

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(default="", max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = json_field(default_factory=list)
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = time_field()
    revoked_at: datetime | None = time_field()


class WebhookSubscription(SQLModel, table=True):
    """An outside system that wants events (score changed, hygiene issue) posted to it.

    ``secret`` is the HMAC key deliveries are signed with; HMAC needs the key itself, so it
    is kept (never logged) and shown to the subscriber once, when the subscription is made.
    """

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=100)
    created_by: str = Field(default="", max_length=100)
    events: list[str] = json_field(default_factory=list)
    created_at: datetime = created_at_field()
    disabled_at: datetime | None = time_field()


class WebhookDelivery(SQLModel, table=True):
    """An outbound event waiting to be delivered, retried until it is.

    Written in the transaction of the change; ``delivery_id`` is sent with every attempt so
    the receiver can drop a repeat.
    """

    __table_args__ = (Index("ix_webhookdelivery_state_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    subscription_id: int = Field(foreign_key="webhooksubscription.id", index=True)
    delivery_id: str = Field(max_length=64, unique=True)
    event: str = Field(max_length=64)
    payload: dict[str, Any] = json_field()
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = time_field()
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = created_at_field()
    delivered_at: datetime | None = time_field()


class WebhookReceipt(SQLModel, table=True):
    """A signed inbound body already accepted; the same signature again is a replay."""

    __table_args__ = (UniqueConstraint("source", "signature"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    signature: str = Field(max_length=200)
    received_at: datetime = created_at_field()
