"""Deals, the contacts on them, and every stage change."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, time_field, workspace_fk

OUTCOMES = ("open", "won", "lost")


class Deal(SQLModel, table=True):
    """An opportunity with an account; won or lost outcomes are the strongest labels."""

    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    external_id: str | None = Field(default=None, max_length=200)
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    name: str = Field(max_length=200)
    stage: str = Field(default="Discovery", max_length=64)
    amount: float | None = None
    close_date: date | None = None
    outcome: str = Field(default="open", max_length=8)
    created_at: datetime = created_at_field()
    closed_at: datetime | None = time_field()
    updated_at: datetime | None = time_field()


class DealContact(SQLModel, table=True):
    """A contact linked to a deal (a deal may involve several people)."""

    __table_args__ = (UniqueConstraint("deal_id", "contact_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    deal_id: int = Field(foreign_key="deal.id", index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    role: str | None = Field(default=None, max_length=64)


class DealStageChange(SQLModel, table=True):
    """One move of a deal from a stage to another, with who or what moved it."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    deal_id: int = Field(foreign_key="deal.id", index=True)
    from_stage: str | None = Field(default=None, max_length=64)
    to_stage: str = Field(max_length=64)
    actor: str = Field(max_length=64)
    changed_at: datetime = created_at_field()
