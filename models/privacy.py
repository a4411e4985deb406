"""Erasure tombstones: a salted hash is all that remains of a forgotten person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, workspace_fk


class ErasureTombstone(SQLModel, table=True):
    """Stops capture of a person who asked to be forgotten, without storing who they were."""

    __table_args__ = (UniqueConstraint("workspace_id", "kind", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    kind: str = Field(max_length=16)
    digest: str = Field(max_length=64)
    created_at: datetime = created_at_field()
