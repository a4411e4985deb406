"""Contacts, the identities that lead to them, and the changes seen in their details."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, time_field, workspace_fk

IDENTITY_KINDS = ("email", "phone", "visitor")


class Contact(SQLModel, table=True):
    """A person at a customer; the score columns hold the latest scoring of this lead."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    name: str = Field(default="", max_length=200)
    title: str | None = Field(default=None, max_length=200)
    lead_source: str | None = Field(default=None, max_length=64)
    merged_into_id: int | None = Field(default=None, foreign_key="contact.id")
    score: int | None = None
    score_band: str | None = Field(default=None, max_length=16)
    scored_at: datetime | None = time_field()
    last_touch_at: datetime | None = time_field()
    created_at: datetime = created_at_field()
    updated_at: datetime | None = time_field()


class ContactIdentity(SQLModel, table=True):
    """A normalized key (email, E.164 phone, web visitor id) that resolves to one contact."""

    __table_args__ = (UniqueConstraint("workspace_id", "kind", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    contact_id: int = Field(foreign_key="contact.id", index=True)
    kind: str = Field(max_length=16)
    value: str = Field(max_length=320)
    created_at: datetime = created_at_field()


class ContactChange(SQLModel, table=True):
    """A detail of a contact that changed (a new job title is a scoring signal)."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    contact_id: int = Field(foreign_key="contact.id", index=True)
    field: str = Field(max_length=64)
    old_value: str | None = Field(default=None, max_length=400)
    new_value: str | None = Field(default=None, max_length=400)
    source: str = Field(max_length=32)
    changed_at: datetime = created_at_field()
