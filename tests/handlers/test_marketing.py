"""Marketing webhooks as pure parsing: the generic tracker shape and HubSpot's event batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from handlers.marketing import hubspot_batch_id, hubspot_inputs, marketing_inputs
from handlers.signing import SignatureError, verify_generic, verify_hubspot
from models.services.inputs import ActivityIn, PersonIn, QuarantineIn, SkippedIn
from tests.marketing_signing import HUBSPOT_EXAMPLE, generic_headers, hubspot_v3

AT = "2026-11-19T10:00:00Z"
WHEN = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
DOCS_BODY = (
    b'{"events":[{"id":"pv-81f3","type":"page_view","occurred_at":"2026-11-20T14:58:03Z",'
    b'"visitor_id":"v-5c1e","url":"https://acme-analytics.example/pricing","dwell_s":95}]}'
)


def batch(*events: dict[str, Any]) -> bytes:
    """A generic ``{"events": [...]}`` body."""
    return json.dumps({"events": list(events)}).encode()


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """One generic event of ``kind`` with an id, a time and a visitor unless told otherwise."""
    return {"id": f"{kind}-1", "type": kind, "occurred_at": AT, "visitor_id": "v-1"} | fields


def only_activity(body: bytes) -> ActivityIn:
    """The single activity a one-event body becomes."""
    (item,) = marketing_inputs(body)
    assert isinstance(item, ActivityIn), item
    return item


def test_a_page_view_is_a_web_visit_of_an_anonymous_visitor() -> None:
    visit = only_activity(
        batch(event("page_view", url="https://acme.example/pricing?plan=team", dwell_s=95))
    )
    assert (visit.source, visit.external_id, visit.kind) == ("marketing", "page_view-1", "web")
    assert visit.occurred_at == WHEN
    assert visit.facts == {
        "url": "https://acme.example/pricing?plan=team",
        "page": "pricing",
        "dwell_s": 95,
    }
    assert visit.visitor_id == "v-1"
    assert visit.people == (PersonIn(visitor_id="v-1"),)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("form_fill", "form"),
        ("download", "download"),
        ("email_open", "open"),
        ("email_click", "click"),
        ("webinar", "webinar"),
    ],
)
def test_marketing_events_carry_the_event_features_count(kind: str, name: str) -> None:
    activity = only_activity(batch(event(kind, asset="Pricing guide", campaign="Q4 launch")))
    assert activity.kind == "marketing"
    assert activity.facts == {"event": name, "asset": "Pricing guide", "campaign": "Q4 launch"}
    assert activity.subject is not None
    assert activity.subject.endswith(": Pricing guide")


def test_a_form_fill_says_who_the_visitor_is() -> None:
    fill = only_activity(
        batch(
            event(
                "form_fill",
                email="ana.silva@globex.example",
                name="Ana Silva",
                company="Globex",
                occurred_at="2026-11-19T11:00:00+01:00",
            )
        )
    )
    assert fill.people == (
        PersonIn(
            email="ana.silva@globex.example", name="Ana Silva", company="Globex", visitor_id="v-1"
        ),
    )
    assert fill.occurred_at == WHEN
    assert fill.occurred_at.tzinfo is UTC


BAD_EVENTS = {
    "naive time": (event("page_view", url="https://a.example/", occurred_at="2026-11-19T10:00:00"),
                   "occurred_at: Input should have timezone info"),
    "unknown type": (event("tweet"), "type: Input should be 'page_view', 'form_fill'"),
    "nobody": (event("download", visitor_id=None),
               "event: Value error, an event needs a visitor_id or an email"),
    "no url": (event("page_view"), "a page_view needs its url"),
    "not a url": (event("page_view", url="javascript:alert(1)"), "url: Value error, url must"),
    "bad email": (event("form_fill", email="ana at globex"), "is not an email address"),
    "NUL": (event("form_fill", email="a@b.example", name="Ana\x00"), "name: Value error, holds"),
    "surrogate": (event("form_fill", email="a@b.example", company="\ud800"), "company: Input"),
    "negative dwell": (event("page_view", url="https://a.example/", dwell_s=-3), "dwell_s: Input"),
    "no id": ({"type": "download", "occurred_at": AT, "visitor_id": "v"}, "id: Field required"),
    "not an object": ("page_view", "event: Input should be a valid dictionary"),
}  # fmt: skip


@pytest.mark.parametrize(("bad", "reason"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_an_invalid_event_is_quarantined_and_its_neighbours_kept(bad: object, reason: str) -> None:
    before = event("download", id="d-1", email="a@b.example")
    after = event("email_open", id="o-1", email="a@b.example")
    first, middle, last = marketing_inputs(batch(before, bad, after))  # type: ignore[arg-type]
    assert isinstance(first, ActivityIn)
    assert isinstance(last, ActivityIn)
    assert (first.external_id, last.external_id) == ("d-1", "o-1")
    assert isinstance(middle, QuarantineIn)
    assert middle.source == "marketing"
    assert middle.reason.startswith("invalid marketing event: ")
    assert reason in middle.reason
    assert json.loads(middle.raw) == bad
    if isinstance(bad, dict) and "id" in bad:
        assert middle.external_id == bad["id"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b'[{"id": "x"}]', b'{"events": {"id": "x"}}', b"\xff\xfe", b'{"items": []}'],
)
def test_a_body_that_is_not_a_batch_cannot_be_read(body: bytes) -> None:
    """The inbox quarantines the whole body with this error as the reason."""
    with pytest.raises(ValueError, match=r"expected \{\"events\": \[\.\.\.\]\}|Expecting|decode"):
        marketing_inputs(body)


def hubspot(**fields: Any) -> dict[str, Any]:
    """One HubSpot webhook event, as HubSpot sends it."""
    return {
        "eventId": 1001,
        "subscriptionId": 2345,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": 1795172400000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "FORM",
    } | fields


def change(prop: str, value: str, event_id: int) -> dict[str, Any]:
    """A contact property change."""
    return hubspot(eventId=event_id, propertyName=prop, propertyValue=value)


def test_hubspot_contact_changes_become_marketing_and_web_activities() -> None:
    body = json.dumps(
        [
            change("recent_conversion_event_name", "Pricing page: Talk to sales", 1),
            change("email", "ana.silva@globex.example", 2),
            change("hs_email_last_open_date", "1795172400000", 3),
            change("hs_email_last_click_date", "1795172400000", 4),
            change("hs_analytics_last_url", "https://acme.example/pricing", 5),
        ]
    ).encode()
    form, known, opened, clicked, visit = hubspot_inputs(body)
    assert all(isinstance(item, ActivityIn) for item in (form, known, opened, clicked, visit))
    assert isinstance(form, ActivityIn)
    assert isinstance(known, ActivityIn)
    assert isinstance(visit, ActivityIn)
    visitor = "hubspot:62515:123"
    assert form.people == (PersonIn(visitor_id=visitor),)
    assert known.people == (PersonIn(email="ana.silva@globex.example", visitor_id=visitor),)
    assert form.visitor_id == known.visitor_id == visitor
    assert form.facts["event"] == "form"
    assert form.facts["form"] == "Pricing page: Talk to sales"
    assert form.subject == "Form fill: Pricing page: Talk to sales"
    assert [i.facts["event"] for i in (known, opened, clicked) if isinstance(i, ActivityIn)] == [
        "identified",
        "open",
        "click",
    ]
    assert (visit.kind, visit.facts["page"]) == ("web", "pricing")
    assert form.occurred_at == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    assert form.external_id == "62515:2345:1:123"
    assert len({i.external_id for i in (form, known, opened, clicked, visit)}) == 5


def test_hubspot_generic_object_events_for_contacts_are_read_too() -> None:
    body = json.dumps(
        [
            hubspot(
                subscriptionType="object.propertyChange",
                objectTypeId="0-1",
                propertyName="recent_conversion_event_name",
                propertyValue="Demo request",
            )
        ]
    ).encode()
    (form,) = hubspot_inputs(body)
    assert isinstance(form, ActivityIn)
    assert form.facts["event"] == "form"


def test_hubspot_events_without_a_marketing_signal_are_skipped_with_a_reason() -> None:
    body = json.dumps(
        [
            hubspot(subscriptionType="contact.creation", changeFlag="NEW"),
            hubspot(subscriptionType="deal.propertyChange", propertyName="amount"),
            hubspot(subscriptionType="object.creation", objectTypeId="0-3"),
            change("lifecyclestage", "lead", 7),
            change("recent_conversion_event_name", "", 8),
        ]
    ).encode()
    reasons = [item.reason for item in hubspot_inputs(body) if isinstance(item, SkippedIn)]
    assert reasons == [
        "no marketing signal",
        "not a contact event",
        "not a contact event",
        "no marketing signal",
        "property cleared",
    ]
    assert all(len(reason) <= 32 for reason in reasons)


def test_a_bad_hubspot_event_is_quarantined_and_its_neighbours_kept() -> None:
    no_object = hubspot(eventId=5)
    del no_object["objectId"]
    body = json.dumps(
        [
            change("email", "not-an-email", 4),
            no_object,
            change("hs_analytics_last_url", "ftp://files.example/x", 6),
            change("email", "a" * 250 + "@b.example", 7),
            change("hs_email_last_open_date", "1795172400000", 8),
        ]
    ).encode()
    bad_email, missing, bad_url, too_long, opened = hubspot_inputs(body)
    assert isinstance(bad_email, QuarantineIn)
    assert bad_email.reason == "invalid hubspot event: 'not-an-email' is not an email address"
    assert bad_email.external_id == "4"
    assert isinstance(missing, QuarantineIn)
    assert missing.reason == "invalid hubspot event: objectId: Field required"
    assert isinstance(bad_url, QuarantineIn)
    assert "url must start with http" in bad_url.reason
    assert isinstance(too_long, QuarantineIn)
    assert too_long.reason.endswith("an email address has at most 254 characters")
    assert isinstance(opened, ActivityIn)


def test_a_hubspot_batch_is_named_by_its_events_whatever_their_order_or_attempt() -> None:
    one, two = change("email", "a@b.example", 1), change("hs_email_last_open_date", "1", 2)
    first = hubspot_batch_id(json.dumps([one, two]).encode(), {})
    retried = [one | {"attemptNumber": 3}, two | {"attemptNumber": 3}]
    assert hubspot_batch_id(json.dumps(retried[::-1]).encode(), {}) == first
    assert hubspot_batch_id(json.dumps([one]).encode(), {}) != first
    with pytest.raises(ValueError, match="a JSON array of events"):
        hubspot_batch_id(b'{"eventId": 1}', {})


def test_our_hubspot_signer_matches_hubspots_published_example() -> None:
    """HubSpot's SDK vector, computed by our independent helper and accepted by the product."""
    ex = HUBSPOT_EXAMPLE
    assert isinstance(ex["body"], bytes)
    args = (str(ex["secret"]), str(ex["method"]), str(ex["uri"]), ex["body"], str(ex["timestamp"]))
    assert hubspot_v3(*args) == ex["signature"]
    headers = {
        "X-HubSpot-Signature-v3": str(ex["signature"]),
        "X-HubSpot-Request-Timestamp": str(ex["timestamp"]),
    }
    now = int(str(ex["timestamp"])) / 1000
    assert verify_hubspot(headers, "POST", args[2], ex["body"], args[0], now=now)
    with pytest.raises(SignatureError, match="does not match"):
        verify_hubspot(headers, "POST", args[2] + "/", ex["body"], args[0], now=now)


def test_the_documented_generic_example_verifies() -> None:
    """The worked example in docs/webhooks.md, byte for byte."""
    headers = generic_headers("whsec-example-0123456789", DOCS_BODY, timestamp=1795186800)
    expected = "v1=1a03a6ff133141b020aa5e6ef96d8cb8ea81a0cf34dd1aed9498ca2647d1f969"
    assert headers["X-Nudge-Signature"] == expected
    verify_generic(headers, DOCS_BODY, "whsec-example-0123456789", now=1795186800 + 10)
    (visit,) = marketing_inputs(DOCS_BODY)
    assert isinstance(visit, ActivityIn)
    assert visit.facts == {
        "url": "https://acme-analytics.example/pricing",
        "page": "pricing",
        "dwell_s": 95,
    }
