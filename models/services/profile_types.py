"""The shapes the profile service returns: JSON-ready pydantic models, frozen.

``model_dump(mode="json")`` of any of them is what the REST API answers.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Person(_View):
    """A team member (an owner)."""

    user_id: int
    slack_user_id: str | None
    name: str


class Company(_View):
    """The account a contact or deal belongs to."""

    account_id: int
    name: str
    domain: str | None
    industry: str | None
    employees: int | None


class ContactMatch(_View):
    """One search result: enough to tell people apart and pick one."""

    contact_id: int
    name: str
    title: str | None
    email: str | None
    company: str | None
    score: int | None
    band: str | None


class DealSummary(_View):
    """A deal as listed on a profile or in a search."""

    deal_id: int
    name: str
    stage: str
    amount: float | None
    close_date: date | None
    outcome: str
    company: str | None
    owner: Person | None


class TimelineItem(_View):
    """One activity from any source, newest first on a profile."""

    activity_id: int
    source: str
    kind: str
    occurred_at: datetime
    direction: str | None
    summary: str


class ScoreView(_View):
    """The latest score with the model's own reasons for and against it."""

    value: int
    band: str
    model_version: int
    taken_at: datetime
    low_confidence: bool
    reasons_for: list[str]
    reasons_against: list[str]


class IssueView(_View):
    """An open data-hygiene problem on the contact or one of its deals."""

    issue_id: int
    rule: str
    entity_type: str
    entity_id: int
    message: str
    opened_at: datetime


class Profile(_View):
    """Everything Nudge knows about one contact, as the viewer may see it."""

    contact_id: int
    name: str
    title: str | None
    lead_source: str | None
    emails: list[str]
    phones: list[str]
    company: Company | None
    owner: Person | None
    deals: list[DealSummary]
    timeline: list[TimelineItem]
    timeline_total: int
    score: ScoreView | None
    issues: list[IssueView]


class DealView(_View):
    """A deal with its people (those the viewer may see) and open issues."""

    deal: DealSummary
    contacts: list[ContactMatch]
    issues: list[IssueView]
