"""The SQLModel metadata with stable constraint names, so migrations diff cleanly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from models.types import UtcDateTime, json_field_type, utcnow

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def created_at_field() -> Any:
    """A creation timestamp, set by the application in UTC."""
    return Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


def time_field(*, nullable: bool = True, index: bool = False) -> Any:
    """An optional UTC timestamp column."""
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable, index=index)


def json_field(*, default_factory: Any = dict) -> Any:
    """A JSON document column."""
    return Field(default_factory=default_factory, sa_type=json_field_type(), nullable=False)


def workspace_fk() -> Any:
    """The owning workspace: every domain row belongs to exactly one."""
    return Field(foreign_key="workspace.id", index=True, nullable=False)


__all__ = ["SQLModel", "created_at_field", "datetime", "json_field", "time_field", "workspace_fk"]
