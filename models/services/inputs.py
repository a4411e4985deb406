"""Typed inputs that handlers build from wire formats and services consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class PersonIn:
    """Someone outside the team, as a source saw them."""

    email: str | None = None
    name: str = ""
    phone: str | None = None
    title: str | None = None
    company: str | None = None
    visitor_id: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityIn:
    """One interaction from any source, ready for the single ingestion path.

    ``people`` are the outside participants (each gets the activity on their timeline); it
    may be empty for an anonymous web visitor (``visitor_id``), whose activities join the
    contact's timeline once a form or click tells who they are. ``rep_email`` is the team
    member involved, if known. ``update`` says what a second delivery of the same
    (source, external id) does: ``never`` (a duplicate), ``revision`` (replaces the stored
    one when ``revision`` is higher, as calendar SEQUENCE numbers do) or ``merge`` (adds its
    facts to the stored ones, as a call's status, recording and transcript callbacks do).
    """

    source: str
    external_id: str
    kind: str
    occurred_at: datetime
    people: tuple[PersonIn, ...]
    direction: str | None = None
    rep_email: str | None = None
    subject: str | None = None
    body: str | None = None
    thread_key: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/octet-stream"
    visitor_id: str | None = None
    update: Literal["never", "revision", "merge"] = "never"
    revision: int | None = None
    raw_item_id: int | None = None


@dataclass(frozen=True, slots=True)
class SkippedIn:
    """An item deliberately not captured, counted with its reason."""

    source: str
    external_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class QuarantineIn:
    """An item that could not be understood: its bytes and a readable reason."""

    source: str
    reason: str
    raw: bytes
    external_id: str | None = None


CaptureInput = ActivityIn | SkippedIn | QuarantineIn
"""Anything a reader hands to the ingestion path."""
