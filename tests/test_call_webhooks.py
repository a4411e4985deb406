"""Calls over real HTTP: signed Twilio and generic webhooks → stored at once → call activities.

The real aiohttp app runs with its background inbox (tests/call_server.py); each test
waits for the inbox to settle and then reads what the database holds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import col

from bot.config import AppConfig
from models.activity import Activity, Quarantine, RawItem
from tests.call_server import (
    ANA_PHONE,
    CALL,
    CALL_END,
    PUBLIC_URL,
    SECRET,
    TOKEN,
    TRANSCRIPT,
    TWILIO_NUMBER,
    TWILIO_PATH,
    Served,
    answer,
    completed,
    contact_with_phone,
    generic_call,
    linked,
    rows,
    serving,
    settled,
)
from tests.fakes.twilio import (
    recording_callback,
    sid,
    signed_post,
    status_callback,
    transcription_callback,
)

REPLAYED = {"ok": False, "error": "replayed request"}


@pytest.fixture
async def served(database_url: str, app_config: AppConfig, tmp_path: Path) -> AsyncIterator[Served]:
    secrets = {"twilio_auth_token": SecretStr(TOKEN), "webhook_secret": SecretStr(SECRET)}
    async with serving(database_url, app_config, tmp_path / "mail", **secrets) as served:
        yield served


async def test_twilio_callbacks_build_one_call_on_the_contact_found_by_phone(
    served: Served,
) -> None:
    recording = recording_callback(
        CALL, sid("RE", 1), started=CALL_END - timedelta(seconds=338), duration_s=338,
        status="completed",
    )  # fmt: skip
    transcription = transcription_callback(
        CALL, sid("RE", 1), sid("TR", 1), TRANSCRIPT, caller=ANA_PHONE, called=TWILIO_NUMBER
    )
    for params in (completed(), recording, transcription):
        assert await answer(await served.twilio(params), 200) == {"ok": True, "duplicate": False}
        assert await answer(await served.twilio(params), 401) == REPLAYED
    await settled(served.runtime)

    ana = await contact_with_phone(served.runtime, ANA_PHONE)
    (call,) = await rows(served.runtime, Activity, Activity.source == "twilio")
    assert (call.kind, call.external_id, call.direction) == ("call", CALL, "inbound")
    assert call.contact_id == ana.id
    assert await linked(served.runtime, call) == [ana.id]
    assert call.occurred_at == CALL_END - timedelta(seconds=340)
    assert call.body == TRANSCRIPT
    assert call.facts == {
        "status": "completed",
        "duration_s": 340,
        "recording": True,
        "transcription": "completed",
        "transcript_signals": {
            "next_steps": {"count": 2, "keywords": ["let's meet", "send over"]},
            "pricing": {"count": 2, "keywords": ["discount", "price"]},
            "competitors": {"count": 0, "keywords": []},
            "objections": {"count": 1, "keywords": ["too expensive"]},
        },
    }
    assert "api.twilio.com" not in json.dumps(call.facts)
    assert len(await rows(served.runtime, RawItem, RawItem.source == "twilio")) == 3


async def test_a_replayed_twilio_request_is_refused_and_changes_nothing(served: Served) -> None:
    """The same signed request again is a replay: Twilio resends only what was not accepted.

    Twilio signs no time, so there is no staleness check; its signature covers the URL and
    every parameter, so it is the replay key.
    """
    params = completed()
    body, headers = signed_post(f"{PUBLIC_URL}{TWILIO_PATH}", params, TOKEN)
    first = await served.client.post(TWILIO_PATH, data=body, headers=headers)
    assert await answer(first, 200) == {"ok": True, "duplicate": False}
    await settled(served.runtime)
    (before,) = await rows(served.runtime, Activity, Activity.source == "twilio")

    again = await served.client.post(TWILIO_PATH, data=body, headers=headers)
    assert await answer(again, 401) == REPLAYED
    await settled(served.runtime)
    (after,) = await rows(served.runtime, Activity, Activity.source == "twilio")
    assert (after.id, after.facts, after.occurred_at) == (
        before.id,
        before.facts,
        before.occurred_at,
    )
    assert len(await rows(served.runtime, RawItem, RawItem.source == "twilio")) == 1


async def test_other_callbacks_of_an_accepted_call_are_still_taken(served: Served) -> None:
    """Another status, or the same one with another sequence number, is not a replay."""
    assert await answer(await served.twilio(completed()), 200) == {"ok": True, "duplicate": False}
    ringing = status_callback(
        CALL, "ringing", caller=ANA_PHONE, called=TWILIO_NUMBER, at=CALL_END, sequence=0
    )
    assert await answer(await served.twilio(ringing), 200) == {"ok": True, "duplicate": False}
    resent = completed() | {"SequenceNumber": "3"}
    assert await answer(await served.twilio(resent), 200) == {"ok": True, "duplicate": True}
    await settled(served.runtime)
    (call,) = await rows(served.runtime, Activity, Activity.source == "twilio")
    assert call.facts["status"] == "completed"
    assert len(await rows(served.runtime, RawItem, RawItem.source == "twilio")) == 2


async def test_twilio_signature_covers_the_public_url_query_and_every_param(
    served: Served,
) -> None:
    params = completed()
    url = f"{PUBLIC_URL}{TWILIO_PATH}"
    body, headers = signed_post(url, params, TOKEN)
    tampered = body.replace("CallDuration=340", "CallDuration=3400")
    response = await served.client.post(TWILIO_PATH, data=tampered, headers=headers)
    assert await answer(response, 401) == {
        "ok": False,
        "error": "signature does not match the body",
    }
    assert (await answer(await served.twilio(params, token="f" * 32), 401))["error"] == (
        "signature does not match the body"
    )
    unsigned = {k: v for k, v in headers.items() if k != "X-Twilio-Signature"}
    response = await served.client.post(TWILIO_PATH, data=body, headers=unsigned)
    assert (await answer(response, 401))["error"] == "missing signature"
    _, local = signed_post(f"http://localhost{TWILIO_PATH}", params, TOKEN)
    response = await served.client.post(TWILIO_PATH, data=body, headers=local)
    assert (await answer(response, 401))["error"] == "signature does not match the body"
    _, without_query = signed_post(url, params, TOKEN)
    response = await served.client.post(
        f"{TWILIO_PATH}?region=emea", data=body, headers=without_query
    )
    assert response.status == 401
    assert await rows(served.runtime, RawItem, RawItem.source == "twilio") == []

    assert (await answer(await served.twilio(params, query="?region=emea"), 200))["ok"] is True


async def test_a_call_from_an_unknown_number_creates_a_contact_with_that_phone(
    served: Served,
) -> None:
    stranger = "+442071838750"
    await answer(await served.twilio(completed(sid("CA", 2), caller="+44 20 7183 8750")), 200)
    await settled(served.runtime)
    contact = await contact_with_phone(served.runtime, stranger)
    (call,) = await rows(served.runtime, Activity, Activity.external_id == sid("CA", 2))
    assert call.contact_id == contact.id
    assert contact.lead_source == "twilio"


async def test_missing_secrets_answer_503(database_url: str, app_config: AppConfig) -> None:
    async with serving(database_url, app_config, None) as served:
        response = await served.twilio(completed())
        assert await answer(response, 503) == {
            "ok": False,
            "error": "TWILIO_AUTH_TOKEN is not configured",
        }
        response = await served.generic(generic_call())
        assert await answer(response, 503) == {
            "ok": False,
            "error": "NUDGE_WEBHOOK_SECRET is not configured",
        }
        assert await rows(served.runtime, RawItem) == []


async def test_unreadable_bodies_go_to_quarantine_and_the_next_call_is_captured(
    served: Served,
) -> None:
    no_call = {k: v for k, v in completed().items() if k not in ("CallSid", "CallStatus")}
    await answer(await served.twilio(no_call), 200)
    await answer(await served.generic(b'{"id": "pbx-9", "direction": "sideways"}'), 200)
    await answer(await served.twilio(completed()), 200)
    await answer(await served.generic(generic_call()), 200)
    await settled(served.runtime)

    reasons = {q.source: q.reason for q in await rows(served.runtime, Quarantine)}
    assert reasons["twilio"] == "cannot read twilio webhook: ValueError: callback has no CallSid"
    assert reasons["calls"].startswith("cannot read calls webhook: ValueError: invalid call: ")
    assert "direction: Input should be 'inbound' or 'outbound'" in reasons["calls"]
    assert "from: Field required" in reasons["calls"]
    calls = await rows(served.runtime, Activity, col(Activity.kind) == "call")
    assert sorted(c.source for c in calls) == ["calls", "twilio"]


async def test_a_recording_callback_before_the_status_is_not_lost(served: Served) -> None:
    recording = recording_callback(
        CALL, sid("RE", 1), started=CALL_END, duration_s=338, status="completed"
    )
    await answer(await served.twilio(recording), 200)
    await settled(served.runtime)
    await answer(await served.twilio(completed()), 200)
    await settled(served.runtime)
    (call,) = await rows(served.runtime, Activity, Activity.source == "twilio")
    assert call.facts.get("recording") is True
