"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from models.base import created_at_field, json_field


class AuditEntry(SQLModel, table=True):
    """Who did what to which record, with before/after; ``hash`` chains to the previous row."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id", index=True)
    at: datetime = created_at_field()
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64, index=True)
    target_type: str = Field(max_length=32)
    target_id: str | None = Field(default=None, max_length=100)
    before: dict[str, Any] = json_field()
    after: dict[str, Any] = json_field()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
