"""Roles given by an admin command, and the members of the Slack user groups app.yaml maps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, workspace_fk


class RoleGrant(SQLModel, table=True):
    """A role an admin gave a Slack user with ``/crm role``; it outranks app.yaml."""

    __table_args__ = (UniqueConstraint("workspace_id", "slack_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    slack_user_id: str = Field(max_length=32)
    role: str = Field(max_length=16)
    granted_by: str = Field(max_length=100)
    granted_at: datetime = created_at_field()


class RoleGroupMember(SQLModel, table=True):
    """A member of a Slack user group named in ``crm.roles``, as last read from Slack."""

    __table_args__ = (UniqueConstraint("workspace_id", "group_id", "slack_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    group_id: str = Field(max_length=32)
    slack_user_id: str = Field(max_length=32)
    synced_at: datetime = created_at_field()
