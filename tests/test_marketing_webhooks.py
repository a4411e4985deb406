"""Marketing webhooks over real HTTP: signed requests in, activities stored, linked and scored."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlmodel import col, select

from bot.config import AppConfig
from models.activity import Activity, Quarantine, RawItem, SkippedItem
from models.contact import Contact
from models.db import unit_of_work
from tests.conftest import NOW
from tests.marketing_server import (
    ANA,
    GENERIC_PATH,
    GENERIC_SECRET,
    HUBSPOT_PATH,
    HUBSPOT_SECRET,
    LEADS_CHANNEL,
    PUBLIC_URL,
    Served,
    batch,
    contact_of,
    count,
    effects,
    hubspot_event,
    latest_features,
    post,
    send,
    send_hubspot,
    serve,
    settle,
    timeline,
    web_event,
)
from tests.marketing_signing import generic_headers, hubspot_headers


@pytest.fixture
def leads_config(app_config: AppConfig) -> AppConfig:
    """app.yaml as shipped, with nudges about unowned leads going to a channel."""
    nudges = app_config.crm.nudges.model_copy(update={"channel": LEADS_CHANNEL})
    return AppConfig(
        slack=app_config.slack, crm=app_config.crm.model_copy(update={"nudges": nudges})
    )


@pytest.fixture
async def served(database_url: str, leads_config: AppConfig) -> AsyncIterator[Served]:
    """Nudge serving both marketing endpoints."""
    async with serve(
        database_url,
        leads_config,
        hubspot_client_secret=SecretStr(HUBSPOT_SECRET),
        webhook_secret=SecretStr(GENERIC_SECRET),
    ) as running:
        yield running


async def test_a_signed_generic_batch_is_captured_once(served: Served) -> None:
    soon = NOW - timedelta(hours=3)
    ana = {"email": ANA, "name": "Ana Silva", "company": "Globex", "visitor_id": "v-ana"}
    events = [
        web_event("form_fill", "f-1", soon, asset="Pricing sheet", **ana),
        web_event("download", "d-1", soon + timedelta(minutes=5), email=ANA, asset="ROI guide"),
        web_event("email_click", "c-1", soon + timedelta(minutes=9), email=ANA, campaign="Q4"),
    ]
    body = batch(*events)
    stamp = int(time.time())
    signed = generic_headers(GENERIC_SECRET, body, timestamp=stamp)
    assert await post(served, GENERIC_PATH, body, signed) == (200, {"ok": True, "duplicate": False})
    await settle(served)

    contact = await contact_of(served, ANA)
    assert (contact.name, contact.lead_source) == ("Ana Silva", "marketing")
    stored = await timeline(served, contact)
    assert [(a.external_id, a.kind, a.facts["event"]) for a in stored] == [
        ("f-1", "marketing", "form"),
        ("d-1", "marketing", "download"),
        ("c-1", "marketing", "click"),
    ]
    assert {a.contact_id for a in stored} == {contact.id}
    assert all(a.raw_item_id is not None for a in stored)
    before = await effects(served)

    status, answer = await post(served, GENERIC_PATH, body, signed)
    assert (status, answer["error"]) == (401, "replayed request")
    resent = await send(served, *events, timestamp=stamp - 1)
    assert resent == (200, {"ok": True, "duplicate": True})
    regrouped = await send(served, *events[::-1], timestamp=stamp - 2)
    assert regrouped == (200, {"ok": True, "duplicate": False})
    await settle(served)
    assert await effects(served) == before


async def test_unsigned_tampered_stale_and_wrongly_signed_requests_are_refused(
    served: Served,
) -> None:
    body = batch(web_event("download", "d-9", NOW, email=ANA))
    good = generic_headers(GENERIC_SECRET, body)
    refusals = {
        "tampered": (body.replace(b"d-9", b"d-8"), good, "signature does not match the body"),
        "wrong secret": (body, generic_headers("not-the-secret", body), "does not match"),
        "stale": (body, generic_headers(GENERIC_SECRET, body, timestamp=int(time.time()) - 400),
                  "stale timestamp"),
        "unsigned": (body, {"Content-Type": "application/json"}, "missing timestamp"),
    }  # fmt: skip
    for name, (sent, headers, error) in refusals.items():
        status, answer = await post(served, GENERIC_PATH, sent, headers)
        assert (status, answer["ok"]) == (401, False), name
        assert error in answer["error"], name

    hubspot = json.dumps([hubspot_event(1, "email", ANA)]).encode()
    uri, plain = PUBLIC_URL + HUBSPOT_PATH, "http://nudge.example.com" + HUBSPOT_PATH
    stale_ms = int((time.time() - 400) * 1000)
    signed = hubspot_headers(HUBSPOT_SECRET, uri, hubspot)
    hubspot_refusals = {
        "tampered": (hubspot.replace(b"ana", b"eve"), signed),
        "wrong secret": (hubspot, hubspot_headers("not-the-secret", uri, hubspot)),
        "stale": (hubspot, hubspot_headers(HUBSPOT_SECRET, uri, hubspot, timestamp_ms=stale_ms)),
        "other url": (hubspot, hubspot_headers(HUBSPOT_SECRET, plain, hubspot)),
        "unsigned": (hubspot, {"Content-Type": "application/json"}),
    }  # fmt: skip
    for name, (sent, headers) in hubspot_refusals.items():
        assert (await post(served, HUBSPOT_PATH, sent, headers))[0] == 401, name
    assert await count(served, RawItem) == 0


async def test_endpoints_without_their_secret_answer_503(
    database_url: str, leads_config: AppConfig
) -> None:
    async with serve(database_url, leads_config) as unconfigured:
        status, answer = await send(unconfigured, web_event("download", "d-1", NOW, email=ANA))
        assert status == 503
        assert answer["error"] == "NUDGE_WEBHOOK_SECRET is not configured"
        status, answer = await send_hubspot(unconfigured, [hubspot_event(1, "email", ANA)])
        assert status == 503
        assert answer["error"] == "HUBSPOT_CLIENT_SECRET is not configured"
        assert await count(unconfigured, RawItem) == 0


async def test_a_signed_hubspot_batch_is_captured_once(served: Served) -> None:
    events = [
        hubspot_event(1, "recent_conversion_event_name", "Talk to sales"),
        hubspot_event(2, "email", ANA),
        hubspot_event(3, "hs_email_last_open_date", "1795172400000"),
        hubspot_event(4, None, None, subscriptionType="contact.creation", changeFlag="NEW"),
        hubspot_event(5, None, None, subscriptionType="deal.creation", objectId=77),
    ]
    body = json.dumps(events).encode()
    signed = hubspot_headers(HUBSPOT_SECRET, PUBLIC_URL + HUBSPOT_PATH, body)
    assert await post(served, HUBSPOT_PATH, body, signed) == (200, {"ok": True, "duplicate": False})
    await settle(served)

    contact = await contact_of(served, ANA)
    stored = await timeline(served, contact)
    assert [(a.source, a.facts["event"]) for a in stored] == [
        ("hubspot", "form"),
        ("hubspot", "identified"),
        ("hubspot", "open"),
    ]
    assert stored[0].facts["form"] == "Talk to sales"
    assert await count(served, SkippedItem) == 2
    assert (await latest_features(served, contact))["form_fills_90d"] == 1.0
    before = await effects(served)

    status, answer = await post(served, HUBSPOT_PATH, body, signed)
    assert (status, answer["error"]) == (401, "replayed request")
    retry = [event | {"attemptNumber": 1} for event in events]
    later_ms = int(time.time() * 1000) - 1000  # the retry's body differs: a new signature
    assert await send_hubspot(served, retry, timestamp_ms=later_ms) == (
        200,
        {"ok": True, "duplicate": True},
    )
    regrouped = await send_hubspot(served, [events[2], events[0]], timestamp_ms=later_ms - 1)
    assert regrouped == (200, {"ok": True, "duplicate": False})
    await settle(served)
    assert await effects(served) == before


async def test_anonymous_visits_join_the_contact_once_a_form_says_who(served: Served) -> None:
    for days in (3, 2, 1):
        visit = web_event(
            "page_view", f"pv-{days}", NOW - timedelta(days=days), visitor_id="v-42",
            url="https://acme-analytics.example/pricing", dwell_s=120,
        )  # fmt: skip
        assert (await send(served, visit))[0] == 200
    await settle(served)
    assert await count(served, Contact) == 0
    assert await count(served, Activity) == 3

    fill = web_event(
        "form_fill", "form-1", NOW - timedelta(hours=1), visitor_id="v-42", email=ANA,
        name="Ana Silva", asset="Talk to sales",
    )  # fmt: skip
    assert (await send(served, fill))[0] == 200
    await settle(served)
    contact = await contact_of(served, ANA)
    stored = await timeline(served, contact)
    assert [a.external_id for a in stored] == ["pv-3", "pv-2", "pv-1", "form-1"]
    assert {a.contact_id for a in stored} == {contact.id}
    features = await latest_features(served, contact)
    assert (features["pricing_visits_7d"], features["form_fills_90d"]) == (3.0, 1.0)
    assert features["dwell_min_30d"] == 6.0

    later = web_event(
        "page_view", "pv-0", NOW - timedelta(minutes=10), visitor_id="v-42",
        url="https://acme-analytics.example/pricing",
    )  # fmt: skip
    assert (await send(served, later))[0] == 200
    await settle(served)
    stored = await timeline(served, contact)
    assert [a.external_id for a in stored][-1] == "pv-0"
    assert stored[-1].contact_id == contact.id
    assert (await latest_features(served, contact))["pricing_visits_7d"] == 4.0


async def test_hostile_strings_are_stored_but_never_ping_anyone(served: Served) -> None:
    for days in (3, 2, 1):
        visit = web_event(
            "page_view", f"pv-{days}", NOW - timedelta(days=days), visitor_id="v-evil",
            url="https://acme-analytics.example/pricing", dwell_s=300,
        )  # fmt: skip
        assert (await send(served, visit))[0] == 200
    fill = web_event(
        "form_fill", "form-evil", NOW - timedelta(hours=1), visitor_id="v-evil",
        email="mallory@initech.example", name="<!channel> Mallory", company="<!here> Initech",
        asset="<!everyone> <https://evil.example|click me>",
    )  # fmt: skip
    assert (await send(served, fill))[0] == 200
    await settle(served)

    contact = await contact_of(served, "mallory@initech.example")
    assert contact.name == "<!channel> Mallory"
    (nudge,) = await served.fake.wait_for("chat.postMessage")
    assert nudge.params["channel"] == LEADS_CHANNEL
    shown = json.dumps(nudge.params.get("blocks", [])) + str(nudge.params.get("text", ""))
    for ping in ("<!channel>", "<!here>", "<!everyone>", "<https://evil"):
        assert ping not in shown
    assert "&lt;!channel&gt; Mallory" in shown
    assert "&lt;!here&gt; Initech" in shown
    assert "&lt;!everyone&gt;" in shown


async def test_an_invalid_event_is_quarantined_and_its_neighbours_captured(
    served: Served,
) -> None:
    events = [
        web_event("download", "d-1", NOW - timedelta(hours=2), email=ANA),
        web_event("download", "d-2", NOW.replace(tzinfo=None), email=ANA),
        web_event("email_open", "o-1", NOW - timedelta(hours=1), email=ANA),
        web_event("form_fill", "f-1", NOW, email=ANA, name="Ana\x00"),
    ]
    assert (await send(served, *events))[0] == 200
    not_json = b'{"events": [{"id": "x"'
    headers = generic_headers(GENERIC_SECRET, not_json)
    assert (await post(served, GENERIC_PATH, not_json, headers))[0] == 200
    await settle(served)

    stored = await timeline(served, await contact_of(served, ANA))
    assert [a.external_id for a in stored] == ["d-1", "o-1"]
    async with unit_of_work(served.runtime.sessions) as session:
        rows = (await session.exec(select(Quarantine).order_by(col(Quarantine.id)))).all()
    assert [(q.source, q.external_id) for q in rows[:2]] == [
        ("marketing", "d-2"),
        ("marketing", "f-1"),
    ]
    assert "occurred_at: Input should have timezone info" in rows[0].reason
    assert "name: Value error, holds a NUL character" in rows[1].reason
    assert json.loads(rows[0].body)["id"] == "d-2"
    assert rows[2].reason.startswith("cannot read marketing webhook: JSONDecodeError")
    assert rows[2].body == not_json
