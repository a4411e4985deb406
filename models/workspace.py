"""Workspaces (one Slack team each) and the people who use Nudge, with their roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, workspace_fk

ROLES = ("rep", "manager", "admin")


class Workspace(SQLModel, table=True):
    """A tenant: one sales team and its Slack workspace."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=64)
    slack_team_id: str | None = Field(default=None, unique=True, max_length=32)
    name: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class User(SQLModel, table=True):
    """A member of the sales team: rep, manager or admin, known by Slack id and work email."""

    __table_args__ = (
        UniqueConstraint("workspace_id", "slack_user_id"),
        UniqueConstraint("workspace_id", "email"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    slack_user_id: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=320)
    name: str = Field(default="", max_length=200)
    tz: str = Field(default="UTC", max_length=64)
    role: str = Field(default="rep", max_length=16)
    manager_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = created_at_field()
