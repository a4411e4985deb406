"""Accounts: the companies the team sells to, one per email domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, time_field, workspace_fk


class Account(SQLModel, table=True):
    """A customer company; free-mail domains never make one."""

    __table_args__ = (UniqueConstraint("workspace_id", "domain"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    name: str = Field(max_length=200)
    domain: str | None = Field(default=None, max_length=253)
    industry: str | None = Field(default=None, max_length=64)
    employees: int | None = None
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    created_at: datetime = created_at_field()
    updated_at: datetime | None = time_field()
