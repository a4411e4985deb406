"""The append-only, hash-chained audit trail, and the anchors that fix its two ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from models.base import created_at_field, json_field


class AuditEntry(SQLModel, table=True):
    """Who did what to which record, with before/after; ``hash`` chains to the previous row.

    The chain covers digests of ``before`` and ``after``: an erasure may replace their
    content (``redacted`` then keeps the original digests) without breaking the chain.
    Ids are never reused (AUTOINCREMENT on SQLite), so rows after a prune or a deletion
    of the newest rows come after the anchors.
    """

    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id", index=True)
    at: datetime = created_at_field()
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64, index=True)
    target_type: str = Field(max_length=32)
    target_id: str | None = Field(default=None, max_length=100)
    before: dict[str, Any] = json_field()
    after: dict[str, Any] = json_field()
    redacted: dict[str, Any] = json_field()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class AuditAnchor(SQLModel, table=True):
    """A point of the chain kept outside it: where it starts after a prune, or its head.

    A prune leaves a ``pruned`` anchor: the last deleted row's id and hash, and how many
    rows went. The one ``head`` anchor names the newest row; every append moves it in the
    same transaction, so deleting the newest rows is caught too.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="pruned", max_length=8)
    entry_id: int
    entry_hash: str = Field(max_length=64)
    pruned: int = 0
    created_at: datetime = created_at_field()
