"""The API's shapes: one set of pydantic models validates input, serializes output and
becomes the OpenAPI document, so the three cannot disagree."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MAX_ID = 2**31 - 1
NO_NUL = r"^[^\x00]*$"


def _no_surrogates(value: str) -> str:
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range") from exc


DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
Text = Annotated[
    str, StringConstraints(max_length=200, pattern=NO_NUL), AfterValidator(_no_surrogates)
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL),
    AfterValidator(_no_surrogates),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$"),
    AfterValidator(_no_surrogates),
]
Phone = Annotated[str, StringConstraints(max_length=40, pattern=r"^[0-9+()\-. ]+$")]
Since = Annotated[AwareDatetime, AfterValidator(_utc)]
Amount = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Day = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2999, 12, 31))]
Cursor = Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9_=-]*$")]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s\x00]+$")]

T = TypeVar("T")


class Input(BaseModel):
    """A request shape: unknown fields are refused, so a misspelt one is not silently lost."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every refusal: a stable code, a readable message, and the invalid fields if any."""

    error: str = Field(examples=["insufficient_scope"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class Page(BaseModel, Generic[T]):
    """One page of a list; follow ``next`` (same filters) until it is null."""

    data: list[T]
    next: str | None = Field(description="Path of the next page, or null on the last one.")


class ListQuery(Input):
    """Paging, shared by every list."""

    limit: int = Field(default=50, ge=1, le=200, description="Items per page.")
    cursor: Cursor | None = Field(default=None, description="From a previous page's `next`.")


class AccountQuery(ListQuery):
    """Filters of ``GET /accounts``."""

    owner: DbId | None = Field(default=None, description="Owner's user id.")
    q: Text | None = Field(default=None, description="Part of the name or domain.")
    updated_since: Since | None = None


class AccountRead(BaseModel):
    """A customer company."""

    id: int
    name: str
    domain: str | None
    industry: str | None
    employees: int | None
    owner_id: int | None
    created_at: datetime
    updated_at: datetime | None


class ContactQuery(ListQuery):
    """Filters of ``GET /contacts``."""

    owner: DbId | None = Field(default=None, description="Owner's user id.")
    account_id: DbId | None = None
    band: Literal["hot", "warm", "cold"] | None = Field(default=None, description="Score band.")
    q: Text | None = Field(default=None, description="Part of the name or of an email address.")
    updated_since: Since | None = Field(
        default=None, description="Created, changed or rescored at or after this time."
    )


class ContactRead(BaseModel):
    """A person at a customer, with their latest score."""

    id: int
    name: str
    title: str | None
    emails: list[str]
    phones: list[str]
    account_id: int | None
    owner_id: int | None
    lead_source: str | None
    score: int | None
    score_band: str | None
    scored_at: datetime | None
    last_touch_at: datetime | None
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime | None


class ContactCreate(Input):
    """A new contact; an email or a phone is required. Sending a known one returns that contact."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["email"], "properties": {"email": {"type": "string"}}},
                {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
            ]
        }
    )

    email: Email | None = None
    phone: Phone | None = Field(default=None, description="Any format; stored as E.164.")
    name: Name | None = None
    title: Name | None = None
    account_id: DbId | None = None
    owner_id: DbId | None = None
    lead_source: Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)] | None = None

    @model_validator(mode="after")
    def _has_key(self) -> ContactCreate:
        if not self.email and not self.phone:
            raise ValueError("an email or a phone is required")
        return self


class ContactUpdate(Input):
    """The fields to change; null clears the optional ones."""

    name: Name | None = None
    title: Name | None = None
    account_id: DbId | None = None
    owner_id: DbId | None = None
    lead_source: Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)] | None = None


class DealQuery(ListQuery):
    """Filters of ``GET /deals``."""

    owner: DbId | None = Field(default=None, description="Owner's user id.")
    account_id: DbId | None = None
    contact_id: DbId | None = None
    stage: Text | None = None
    outcome: Literal["open", "won", "lost"] | None = None
    q: Text | None = Field(default=None, description="Part of the deal's name.")
    updated_since: Since | None = None


class DealRead(BaseModel):
    """An opportunity with an account."""

    id: int
    external_id: str | None
    name: str
    stage: str
    amount: float | None
    close_date: date | None
    outcome: str
    account_id: int | None
    owner_id: int | None
    contact_ids: list[int]
    created_at: datetime
    closed_at: datetime | None
    updated_at: datetime | None


class DealCreate(Input):
    """A new deal. With an ``external_id`` already known, the existing deal is returned."""

    name: Name
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)] | (
        None
    ) = Field(default=None, description="Your system's id; makes retries safe.")
    stage: Name = "Discovery"
    amount: Amount | None = None
    close_date: Day | None = None
    account_id: DbId | None = None
    owner_id: DbId | None = None
    contact_ids: list[DbId] = Field(default_factory=list, max_length=50)


class DealUpdate(Input):
    """The fields to change; ``outcome`` closes the deal won or lost, and the model learns."""

    name: Name | None = None
    stage: Name | None = None
    amount: Amount | None = None
    close_date: Day | None = None
    account_id: DbId | None = None
    owner_id: DbId | None = None
    outcome: Literal["won", "lost"] | None = None
    add_contact_ids: list[DbId] = Field(default_factory=list, max_length=50)


class ActivityQuery(ListQuery):
    """Filters of ``GET /activities``."""

    contact_id: DbId | None = None
    account_id: DbId | None = None
    deal_id: DbId | None = None
    kind: Literal["email", "meeting", "call", "web", "marketing", "note"] | None = None
    source: Text | None = None
    since: Since | None = Field(default=None, description="Occurred at or after this time.")
    updated_since: Since | None = Field(default=None, description="Stored at or after this time.")


class ActivityRead(BaseModel):
    """One interaction from any source."""

    id: int
    kind: str
    source: str
    occurred_at: datetime
    direction: str | None
    subject: str | None
    contact_id: int | None
    account_id: int | None
    deal_id: int | None
    user_id: int | None
    facts: dict[str, Any]
    created_at: datetime


class NudgeQuery(ListQuery):
    """Filters of ``GET /nudges``."""

    state: Literal["pending", "sent", "failed", "cancelled"] | None = None
    cause: Text | None = None
    contact_id: DbId | None = None
    recipient: DbId | None = Field(default=None, description="Recipient's user id.")
    updated_since: Since | None = Field(default=None, description="Created or sent since.")


class NudgeRead(BaseModel):
    """A Slack message Nudge wrote (its text stays in Slack)."""

    id: int
    cause: str
    state: str
    contact_id: int | None
    deal_id: int | None
    recipient_id: int | None
    parent_id: int | None
    score: int | None
    model_version: int | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class AuditQuery(ListQuery):
    """Filters of ``GET /audit``."""

    action: Text | None = None
    actor: Text | None = None
    target_type: Text | None = None
    target_id: Text | None = None
    since: Since | None = None


class AuditRead(BaseModel):
    """One row of the hash-chained audit trail."""

    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    prev_hash: str
    hash: str


class WebhookCreate(Input):
    """Where to post events, and which ones."""

    url: Url
    events: list[Literal["score.changed", "hygiene.issue_opened", "hygiene.issue_closed"]] = Field(
        min_length=1, max_length=3
    )


class WebhookRead(BaseModel):
    """A subscription to events."""

    id: int
    url: str
    events: list[str]
    created_at: datetime
    disabled_at: datetime | None


class WebhookCreated(WebhookRead):
    """A new subscription, with its signing secret: shown now and never again."""

    secret: str
