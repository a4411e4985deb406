"""Marketing and web webhooks: the generic tracker shape and HubSpot's v3-signed events.

Each body is a batch and each event its own input: a bad event is quarantined with its
reason while its neighbours are captured. Page views become ``web`` activities, the rest
``marketing`` ones. Events with a visitor id but no email wait unlinked until an event
with both says who the visitor is (for HubSpot, the contact's object id is the visitor id).

>>> body = (b'{"events": [{"id": "pv-1", "type": "page_view", "visitor_id": "v-9",'
...         b' "occurred_at": "2026-11-19T10:00:00Z", "url": "https://acme.example/pricing"},'
...         b' {"id": "bad", "type": "page_view", "occurred_at": "yesterday"}]}')
>>> visit, bad = marketing_inputs(body)
>>> visit.kind, visit.facts["page"], visit.visitor_id, visit.people[0].visitor_id
('web', 'pricing', 'v-9', 'v-9')
>>> bad.reason
'invalid marketing event: occurred_at: Input should be a valid datetime or date, input is too short'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from handlers.signing import verify_generic, verify_hubspot
from handlers.web import page_category
from handlers.webhook import WebhookSource, body_digest
from models.services.inputs import ActivityIn, CaptureInput, PersonIn, QuarantineIn, SkippedIn

GENERIC = "marketing"
HUBSPOT = "hubspot"
HUBSPOT_CONTACT = "0-1"
MARKETING_TYPES = ("form_fill", "download", "email_open", "email_click", "webinar")
EVENT_OF = {kind: kind.removeprefix("email_").removesuffix("_fill") for kind in MARKETING_TYPES}
SUBJECTS = {event: kind.replace("_", " ").capitalize() for kind, event in EVENT_OF.items()}
SUBJECTS["identified"] = "Identified in HubSpot"
# The HubSpot contact properties whose changes Nudge reads, and the event each one means.
HUBSPOT_PROPERTIES = {
    "recent_conversion_event_name": "form",
    "hs_email_last_open_date": "open",
    "hs_email_last_click_date": "click",
    "hs_analytics_last_url": "page_view",
    "email": "identified",
}


def _clean(text: str) -> str:
    """Refuse what a PostgreSQL text column cannot hold (pydantic refuses lone surrogates)."""
    if "\x00" in text:
        raise ValueError("holds a NUL character")
    return text


def _email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in text):
        raise ValueError(f"{text!r} is not an email address")
    if len(text) > 254:
        raise ValueError("an email address has at most 254 characters")
    return text


def _web_url(text: str) -> str:
    if not text.lower().startswith(("http://", "https://")):
        raise ValueError("url must start with http:// or https://")
    return text


Short = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_clean)]
Long = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_clean)]
Email = Annotated[Short, AfterValidator(_email)]
WebUrl = Annotated[Long, AfterValidator(_web_url)]


class _Event(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, coerce_numbers_to_str=True, str_strip_whitespace=True
    )


class MarketingEvent(_Event):
    """One event of the generic shape (documented in docs/webhooks.md)."""

    id: Short
    type: Literal["page_view", "form_fill", "download", "email_open", "email_click", "webinar"]
    occurred_at: AwareDatetime
    visitor_id: Short | None = None
    email: Email | None = None
    name: Short | None = None
    company: Short | None = None
    url: WebUrl | None = None
    dwell_s: int | None = Field(default=None, ge=0, le=86_400)
    asset: Short | None = None
    campaign: Short | None = None

    @model_validator(mode="after")
    def _usable(self) -> MarketingEvent:
        if not (self.visitor_id or self.email):
            raise ValueError("an event needs a visitor_id or an email to say whose it is")
        if self.type == "page_view" and not self.url:
            raise ValueError("a page_view needs its url")
        return self


class HubSpotEvent(_Event):
    """One event of a HubSpot webhook batch (the fields Nudge reads)."""

    event_id: int = Field(alias="eventId", ge=0)
    subscription_id: int = Field(alias="subscriptionId", ge=0)
    portal_id: int = Field(alias="portalId", ge=0)
    occurred_ms: int = Field(alias="occurredAt", ge=0, le=253_402_300_799_999)
    subscription_type: Short = Field(alias="subscriptionType")
    object_id: int = Field(alias="objectId", ge=0)
    object_type_id: Short | None = Field(default=None, alias="objectTypeId")
    property_name: Short | None = Field(default=None, alias="propertyName")
    property_value: Long | None = Field(default=None, alias="propertyValue")
    change_source: Short | None = Field(default=None, alias="changeSource")

    @property
    def key(self) -> str:
        """The event's external id: HubSpot's eventId, scoped (it is not unique alone)."""
        return f"{self.portal_id}:{self.subscription_id}:{self.event_id}:{self.object_id}"


def _problems(exc: ValueError) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}"
        for error in exc.errors()
    )


def _quarantined(source: str, raw: object, exc: ValueError) -> QuarantineIn:
    given = raw.get("id", raw.get("eventId")) if isinstance(raw, dict) else None
    return QuarantineIn(
        source=source,
        reason=f"invalid {source} event: {_problems(exc)}",
        raw=json.dumps(raw).encode(),
        external_id=str(given)[:200] if isinstance(given, str | int) else None,
    )


def _events(body: bytes, *, key: str | None) -> list[object]:
    events = json.loads(body)
    if key is not None:
        events = events.get(key) if isinstance(events, dict) else None
    if not isinstance(events, list):
        shape = f'{{"{key}": [...]}}' if key else "a JSON array of events"
        raise ValueError(f"expected {shape}")
    return events


def _visit_facts(url: str, dwell_s: int | None) -> dict[str, Any]:
    return {"url": url, "page": page_category(url), "dwell_s": dwell_s or 0}


def _subject(event: str, detail: str | None) -> str:
    return f"{SUBJECTS[event]}: {detail}"[:500] if detail else SUBJECTS[event]


def _generic_activity(event: MarketingEvent) -> ActivityIn:
    facts: dict[str, Any]
    if event.type == "page_view":
        assert event.url is not None
        kind, facts = "web", _visit_facts(event.url, event.dwell_s)
        subject = f"{facts['page']} page"
    else:
        name = EVENT_OF[event.type]
        details = {"asset": event.asset, "campaign": event.campaign, "url": event.url}
        kind, facts = "marketing", {"event": name} | {k: v for k, v in details.items() if v}
        subject = _subject(name, event.asset or event.campaign)
    person = PersonIn(
        email=event.email, name=event.name or "", company=event.company, visitor_id=event.visitor_id
    )
    return ActivityIn(
        source=GENERIC,
        external_id=event.id,
        kind=kind,
        occurred_at=event.occurred_at.astimezone(UTC),
        people=(person,),
        subject=subject,
        facts=facts,
        content_type="application/json",
        visitor_id=event.visitor_id,
    )


def _each(
    source: str, events: list[object], read: Callable[[object], CaptureInput]
) -> list[CaptureInput]:
    """One input per event; an event that cannot be read is quarantined with the reason."""
    inputs: list[CaptureInput] = []
    for raw in events:
        try:
            inputs.append(read(raw))
        except ValueError as exc:
            inputs.append(_quarantined(source, raw, exc))
    return inputs


def marketing_inputs(body: bytes) -> list[CaptureInput]:
    """One input per event of a generic ``{"events": [...]}`` body."""
    events = _events(body, key="events")
    return _each(GENERIC, events, lambda raw: _generic_activity(MarketingEvent.model_validate(raw)))


def _hubspot_activity(event: HubSpotEvent, signal: str, value: str) -> ActivityIn:
    visitor = f"hubspot:{event.portal_id}:{event.object_id}"
    email = _email(value) if signal == "identified" else None
    facts: dict[str, Any]
    if signal == "page_view":
        kind, facts = "web", _visit_facts(_web_url(value), None)
        subject = f"{facts['page']} page"
    else:
        kind, facts = "marketing", {"event": signal, "property": event.property_name}
        facts |= {"form": value} if signal == "form" else {}
        subject = _subject(signal, value if signal == "form" else None)
    return ActivityIn(
        source=HUBSPOT,
        external_id=event.key,
        kind=kind,
        occurred_at=datetime.fromtimestamp(event.occurred_ms / 1000, UTC),
        people=(PersonIn(email=email, visitor_id=visitor),),
        subject=subject,
        facts=facts | ({"change_source": event.change_source} if event.change_source else {}),
        content_type="application/json",
        visitor_id=visitor,
    )


def _hubspot_input(event: HubSpotEvent) -> CaptureInput:
    key, kind = event.key, event.subscription_type
    if kind.startswith("object.") and event.object_type_id == HUBSPOT_CONTACT:
        kind = "contact." + kind.removeprefix("object.")
    if not kind.startswith("contact."):
        return SkippedIn(HUBSPOT, key, "not a contact event")
    signal = HUBSPOT_PROPERTIES.get(event.property_name or "")
    if kind != "contact.propertyChange" or signal is None:
        return SkippedIn(HUBSPOT, key, "no marketing signal")
    if not event.property_value:
        return SkippedIn(HUBSPOT, key, "property cleared")
    return _hubspot_activity(event, signal, event.property_value)


def hubspot_inputs(body: bytes) -> list[CaptureInput]:
    """One input per event of a HubSpot webhook batch (a JSON array of events)."""
    events = _events(body, key=None)
    return _each(HUBSPOT, events, lambda raw: _hubspot_input(HubSpotEvent.model_validate(raw)))


def hubspot_batch_id(body: bytes, _form: Mapping[str, str]) -> str:
    """The batch's events, order-free: a retry (new ``attemptNumber``) is the same batch.

    >>> event = ('{"portalId": 7, "subscriptionId": 1, "eventId": 5, "objectId": 9,'
    ...          ' "occurredAt": 1, "subscriptionType": "contact.creation", "attemptNumber": %d}')
    >>> first, retry = (f"[{event % n}]".encode() for n in (0, 1))
    >>> hubspot_batch_id(first, {}) == hubspot_batch_id(retry, {})
    True
    """
    keys = sorted(HubSpotEvent.model_validate(event).key for event in _events(body, key=None))
    return "events:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()


MARKETING_WEBHOOK = WebhookSource(
    name=GENERIC,
    path="/webhooks/marketing",
    secret_variable="NUDGE_WEBHOOK_SECRET",  # noqa: S106 - the variable's name, not a secret
    verify=lambda request, secret, now: verify_generic(
        request.headers, request.body, secret, now=now
    ),
    item_id=lambda body, _form: body_digest(body),
    parse=lambda body, _type, _crm, _now: marketing_inputs(body),
)
HUBSPOT_WEBHOOK = WebhookSource(
    name=HUBSPOT,
    path="/webhooks/marketing/hubspot",
    secret_variable="HUBSPOT_CLIENT_SECRET",  # noqa: S106 - the variable's name, not a secret
    verify=lambda request, secret, now: verify_hubspot(
        request.headers, request.method, request.url, request.body, secret, now=now
    ),
    item_id=hubspot_batch_id,
    parse=lambda body, _type, _crm, _now: hubspot_inputs(body),
)
