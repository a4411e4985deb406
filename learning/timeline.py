"""The facts about one lead that features are computed from: no names, no text, no addresses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Touch:
    """One activity, reduced to what scoring may see.

    ``booked_at`` is when a meeting became known: before it, the meeting does not exist.
    """

    kind: str
    at: datetime
    direction: str | None = None
    thread: str | None = None
    duration_s: int = 0
    page: str | None = None
    dwell_s: int = 0
    event: str | None = None
    cancelled: bool = False
    booked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LeadTimeline:
    """A lead's touches in time order plus its firmographics and deal state."""

    touches: tuple[Touch, ...] = ()
    seniority: str = "unknown"
    title_changed_at: datetime | None = None
    industry: str | None = None
    employees: int | None = None
    lead_source: str | None = None
    deal_stage: str | None = None
    deal_created_at: datetime | None = None
    open_issues: int = 0
    extra: dict[str, float] = field(default_factory=dict)


_SENIORITY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "c_level",
        ("chief", "ceo", "cto", "cfo", "coo", "cmo", "cio", "founder", "owner", "president"),
    ),
    ("vp", ("vp", "vice president", "svp", "evp")),
    ("director", ("director", "head of")),
    ("manager", ("manager", "lead")),
    ("individual", ("engineer", "analyst", "specialist", "coordinator", "consultant", "associate")),
)


def seniority_of(title: str | None) -> str:
    """The seniority band of a job title.

    >>> seniority_of("VP of Sales")
    'vp'
    >>> seniority_of("Chief Revenue Officer")
    'c_level'
    >>> seniority_of(None)
    'unknown'
    """
    if not title:
        return "unknown"
    words = f" {title.lower().replace(',', ' ').replace('.', ' ')} "
    for band, keys in _SENIORITY_WORDS:
        if any(f" {key} " in words for key in keys):
            return band
    return "other"
