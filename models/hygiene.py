"""Data-hygiene issues, merge proposals, and merges that can be undone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import created_at_field, json_field, time_field, workspace_fk


class HygieneIssue(SQLModel, table=True):
    """A rule that a record breaks; closed when the record is fixed, never blocking the change.

    An issue is known by (record, ``rule``, ``detail``): ``detail`` tells apart two problems
    of one rule on one record (the missing field, the other contact of a duplicate pair).
    ``fingerprint`` digests the facts; a problem dismissed by its owner ("these are two
    people", "the amount is right") is not raised again until its facts change.
    ``facts`` hold ids, dates and numbers only, never names or free text.
    ``resolution`` says how it closed: fixed, dismissed or rule_off (its rule turned off).
    ``is_open`` is true while open and NULL once closed, so the unique constraint allows one
    open issue per (record, rule, detail) even when two workers check the same record.
    """

    __table_args__ = (
        Index("ix_hygieneissue_open", "workspace_id", "entity_type", "entity_id"),
        UniqueConstraint(
            "workspace_id",
            "entity_type",
            "entity_id",
            "rule",
            "detail",
            "is_open",
            name="uq_hygieneissue_one_open",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    rule: str = Field(max_length=64)
    detail: str = Field(default="", max_length=64)
    entity_type: str = Field(max_length=16)
    entity_id: int
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    message: str = Field(max_length=500)
    fingerprint: str = Field(default="", max_length=32)
    facts: dict[str, Any] = json_field()
    nudge_id: int | None = Field(default=None, foreign_key="nudge.id")
    opened_at: datetime = created_at_field()
    closed_at: datetime | None = time_field()
    is_open: bool | None = True
    resolution: str | None = Field(default=None, max_length=16)
    closed_by: str | None = Field(default=None, max_length=64)


class MergeProposal(SQLModel, table=True):
    """Two contacts that may be one person, awaiting an owner's answer (remembered)."""

    __table_args__ = (UniqueConstraint("workspace_id", "contact_a_id", "contact_b_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    contact_a_id: int = Field(foreign_key="contact.id")
    contact_b_id: int = Field(foreign_key="contact.id")
    similarity: float
    state: str = Field(default="open", max_length=16)
    decided_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()
    decided_at: datetime | None = time_field()


class MergeRecord(SQLModel, table=True):
    """A merge done, with what is needed to restore both records."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    survivor_id: int = Field(foreign_key="contact.id")
    merged_id: int = Field(foreign_key="contact.id")
    undo: dict[str, Any] = json_field()
    actor: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    undone_at: datetime | None = time_field()
