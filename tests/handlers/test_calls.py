"""Calls as input: Twilio callbacks and the generic shape become call activities (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError

from handlers.call_signals import signal_facts, transcript_signals
from handlers.calls import generic_item_id, parse_generic, parse_twilio, twilio_item_id
from handlers.signing import verify_generic
from models.config import CaptureConfig, CrmConfig, TeamMember
from models.services.inputs import ActivityIn, CaptureInput, PersonIn, SkippedIn
from tests.conftest import ROOT
from tests.fakes.twilio import (
    FORM_CONTENT_TYPE,
    recording_callback,
    sid,
    status_callback,
    transcription_callback,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
REP_PHONE = "+14155550111"
REP_EMAIL = "dana.whitfield@acme-analytics.example"
LEAD_PHONE = "+14155550134"
TWILIO_NUMBER = "+14155550100"
CALL = sid("CA", 1)
SIGNALS = {
    "next_steps": ("next step", "send over", "let's meet"),
    "pricing": ("price", "discount", "budget"),
    "competitors": ("pipedrive", "hubspot"),
    "objections": ("too expensive", "already have"),
}
CRM = CrmConfig(
    team=(TeamMember(slack_id="U0REP01", email=REP_EMAIL, phone="+1 (415) 555-0111"),),
    capture=CaptureConfig(signals=SIGNALS),
)
TRANSCRIPT = (
    "The price is a bit too expensive for us, we already have Pipedrive. "
    "If you can do a discount, send over the contract and let\u2019s meet Tuesday."
)


def twilio(params: dict[str, str]) -> CaptureInput:
    (item,) = parse_twilio(urlencode(params).encode(), FORM_CONTENT_TYPE, CRM, NOW)
    return item


def twilio_activity(params: dict[str, str]) -> ActivityIn:
    item = twilio(params)
    assert isinstance(item, ActivityIn)
    return item


def generic(**fields: object) -> bytes:
    call: dict[str, object] = {
        "id": "pbx-42",
        "direction": "outbound",
        "from": REP_PHONE,
        "to": "(415) 555-0134",
        "started_at": "2026-11-20T09:00:00-05:00",
        "ended_at": "2026-11-20T09:12:30-05:00",
        "rep_email": REP_EMAIL,
        "transcript": TRANSCRIPT,
    }
    return json.dumps(call | fields).encode()


def test_signals_are_whole_words_in_any_case_counted_per_mention() -> None:
    found = transcript_signals(TRANSCRIPT + " PRICE again; priceless.", SIGNALS)
    assert found == {
        "next_steps": ["send over", "let's meet"],
        "pricing": ["price", "discount", "price"],
        "competitors": ["pipedrive"],
        "objections": ["too expensive", "already have"],
    }
    assert signal_facts("no signal here", {"pricing": ("price",), "empty": ("", " ")}) == {
        "pricing": {"count": 0, "keywords": []},
        "empty": {"count": 0, "keywords": []},
    }


def test_phrases_match_across_line_breaks_and_keep_regex_characters_literal() -> None:
    lists = {"next_steps": ("next step",), "odd": ("c++", "a.b")}
    assert transcript_signals("our NEXT\n  STEP: C++ not axb", lists) == {
        "next_steps": ["next step"],
        "odd": ["c++"],
    }


def test_completed_status_callback_is_the_call_with_its_duration() -> None:
    at = NOW - timedelta(hours=1)
    params = status_callback(
        CALL, "completed", caller=LEAD_PHONE, called=TWILIO_NUMBER, at=at, duration_s=340
    )
    item = twilio_activity(params)
    assert (item.source, item.external_id, item.kind, item.update) == (
        "twilio", CALL, "call", "merge",
    )  # fmt: skip
    assert item.people == (PersonIn(phone=LEAD_PHONE),)
    assert (item.direction, item.rep_email) == ("inbound", None)
    assert item.facts == {"status": "completed", "duration_s": 340}
    assert item.occurred_at == at - timedelta(seconds=340)
    assert twilio_item_id(b"", params) == f"{CALL}:completed"


def test_a_progress_status_never_overwrites_the_final_one() -> None:
    params = status_callback(CALL, "ringing", caller=LEAD_PHONE, called=TWILIO_NUMBER, at=NOW)
    assert twilio_activity(params).facts == {}
    assert twilio_item_id(b"", params) == f"{CALL}:ringing"


def test_the_team_numbers_decide_direction_and_rep() -> None:
    """A <Dial> leg to the rep's phone is "outbound-dial" for Twilio, inbound for us."""
    to_rep = status_callback(
        CALL, "completed", caller="+1 415-555-0134", called=REP_PHONE, at=NOW,
        direction="outbound-dial", duration_s=60,
    )  # fmt: skip
    item = twilio_activity(to_rep)
    assert (item.direction, item.rep_email, item.people) == (
        "inbound", REP_EMAIL, (PersonIn(phone=LEAD_PHONE),),
    )  # fmt: skip
    from_rep = status_callback(
        CALL, "completed", caller=REP_PHONE, called=LEAD_PHONE, at=NOW, direction="outbound-api"
    )
    assert (twilio_activity(from_rep).direction, twilio_activity(from_rep).rep_email) == (
        "outbound", REP_EMAIL,
    )  # fmt: skip
    api_call = status_callback(
        CALL, "busy", caller=TWILIO_NUMBER, called=LEAD_PHONE, at=NOW, direction="outbound-api"
    )
    assert twilio_activity(api_call).people == (PersonIn(phone=LEAD_PHONE),)
    assert twilio_activity(api_call).direction == "outbound"


def test_calls_without_an_outside_number_are_skipped() -> None:
    internal = status_callback(CALL, "completed", caller=REP_PHONE, called=REP_PHONE, at=NOW)
    assert twilio(internal) == SkippedIn("twilio", CALL, "internal")
    anonymous = status_callback(CALL, "completed", caller="anonymous", called="client:ana", at=NOW)
    assert twilio(anonymous) == SkippedIn("twilio", CALL, "no outside phone number")


def test_recording_callback_sets_the_flag_and_keeps_no_url() -> None:
    params = recording_callback(CALL, sid("RE", 7), started=NOW, duration_s=338, status="completed")
    item = twilio_activity(params)
    assert (item.external_id, item.people, item.facts) == (CALL, (), {"recording": True})
    assert twilio_item_id(b"", params) == f"{sid('RE', 7)}:completed"
    absent = recording_callback(CALL, sid("RE", 7), started=NOW, duration_s=0, status="absent")
    assert twilio_activity(absent).facts == {"recording": False}


def test_transcription_callback_gives_the_body_and_its_signals() -> None:
    params = transcription_callback(
        CALL, sid("RE", 7), sid("TR", 9), TRANSCRIPT, caller=LEAD_PHONE, called=TWILIO_NUMBER
    )
    item = twilio_activity(params)
    assert item.body == TRANSCRIPT
    assert item.facts == {
        "transcription": "completed",
        "transcript_signals": {
            "next_steps": {"count": 2, "keywords": ["let's meet", "send over"]},
            "pricing": {"count": 2, "keywords": ["discount", "price"]},
            "competitors": {"count": 1, "keywords": ["pipedrive"]},
            "objections": {"count": 2, "keywords": ["already have", "too expensive"]},
        },
    }
    assert twilio_item_id(b"", params) == sid("TR", 9)
    failed = transcription_callback(
        CALL, sid("RE", 7), sid("TR", 9), "", caller=LEAD_PHONE, called=TWILIO_NUMBER,
        status="failed",
    )  # fmt: skip
    assert (twilio_activity(failed).body, twilio_activity(failed).facts) == (
        None, {"transcription": "failed"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ("CallStatus=completed", FORM_CONTENT_TYPE, "callback has no CallSid"),
        ("CallSid=CA1&CallStatus=completed", FORM_CONTENT_TYPE, "CallSid is not shaped like"),
        (f"CallSid={CALL}&CallStatus=%00", FORM_CONTENT_TYPE, "CallStatus is not shaped like"),
        (f"CallSid={CALL}&AccountSid=AC1", FORM_CONTENT_TYPE, "not a call status, recording"),
        (f'{{"CallSid": "{CALL}"}}', "application/json", "form-encoded, not application/json"),
        (f"CallSid={CALL}&CallStatus=completed&CallDuration=ten", FORM_CONTENT_TYPE,
         "CallDuration"),
        (f"CallSid={CALL}&CallStatus=completed&Timestamp=Mon, 1 Jan 1990 00:00:00 +0000",
         FORM_CONTENT_TYPE, "not plausible"),
        (f"CallSid={CALL}&CallStatus=completed&From=%FF", FORM_CONTENT_TYPE, "utf-8"),
    ],
)  # fmt: skip
def test_unreadable_twilio_bodies_raise_a_readable_reason(
    body: str, content_type: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_twilio(body.encode(), content_type, CRM, NOW)


def test_nul_characters_never_reach_the_database() -> None:
    """PostgreSQL refuses NUL in text, and a capture that fails would block the inbox."""
    params = transcription_callback(
        CALL, sid("RE", 7), sid("TR", 9), "Send over\x00 the price", caller=LEAD_PHONE,
        called=TWILIO_NUMBER, status="completed",
    ) | {"TranscriptionStatus": "completed"}  # fmt: skip
    assert twilio_activity(params).body == "Send over the price"
    odd = params | {"TranscriptionStatus": "done\x00"}
    assert twilio_activity(odd).facts == {"transcription": "unknown"}
    (item,) = parse_generic(generic(notes="a\x00b", transcript=None), "", CRM, NOW)
    assert isinstance(item, ActivityIn)
    assert item.body == "ab"
    with pytest.raises(ValueError, match="id: String should match pattern"):
        parse_generic(generic(id="pbx\x00"), "", CRM, NOW)
    with pytest.raises(ValueError, match="rep_email: String should match pattern"):
        parse_generic(generic(rep_email="dana\x00@acme.example"), "", CRM, NOW)
    with pytest.raises(ValueError, match="no usable id"):  # stored under a body digest instead
        generic_item_id(generic(id="pbx\x00"), {})
    with pytest.raises(ValueError, match="CallStatus is not shaped like Twilio's"):
        twilio_item_id(b"", {"CallSid": CALL, "CallStatus": "completed\x00"})


def test_generic_call_is_an_outbound_call_by_the_rep() -> None:
    (item,) = parse_generic(generic(), "application/json", CRM, NOW)
    assert isinstance(item, ActivityIn)
    assert (item.source, item.external_id, item.direction, item.rep_email) == (
        "calls", "pbx-42", "outbound", REP_EMAIL,
    )  # fmt: skip
    assert item.people == (PersonIn(phone=LEAD_PHONE),)
    assert item.occurred_at == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert item.facts["duration_s"] == 750
    assert item.facts["transcript_signals"]["competitors"] == {
        "count": 1,
        "keywords": ["pipedrive"],
    }
    assert (item.body, item.update) == (TRANSCRIPT, "merge")


def test_generic_call_finds_the_rep_by_phone_and_reads_notes() -> None:
    body = generic(direction="inbound", **{"from": LEAD_PHONE, "to": REP_PHONE},
                   rep_email=None, ended_at=None, duration_s=61, transcript=None,
                   notes="Asked for the price list.")  # fmt: skip
    (item,) = parse_generic(body, "application/json", CRM, NOW)
    assert isinstance(item, ActivityIn)
    assert (item.direction, item.rep_email, item.body) == (
        "inbound", REP_EMAIL, "Asked for the price list.",
    )  # fmt: skip
    assert item.facts["duration_s"] == 61
    assert item.facts["transcript_signals"]["pricing"] == {"count": 1, "keywords": ["price"]}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "invalid call: body: Invalid JSON"),
        (generic(direction="sideways"), "direction: Input should be 'inbound' or 'outbound'"),
        (json.dumps({"id": "x"}).encode(), "from: Field required"),
        (generic(started_at="2026-11-20T09:00:00"), "started_at: Input should have timezone"),
        (generic(to="12"), "'to' is not a valid phone number"),
        (generic(ended_at="2026-11-20T08:00:00-05:00"), "ended_at is before started_at"),
        (generic(started_at="2027-01-01T00:00:00Z", ended_at=None), "not plausible"),
        (generic(duration_s=-1), "duration_s: Input should be greater than or equal to 0"),
    ],
)
def test_generic_bodies_that_do_not_fit_raise_without_echoing_values(
    body: bytes, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason) as raised:
        parse_generic(body, "application/json", CRM, NOW)
    assert LEAD_PHONE not in str(raised.value)
    assert "5550134" not in str(raised.value)


def test_generic_item_id_changes_with_the_body_but_not_with_a_resend() -> None:
    assert generic_item_id(generic(), {}) == generic_item_id(generic(), {})
    assert generic_item_id(generic(), {}).startswith("pbx-42:")
    assert generic_item_id(generic(notes="later"), {}) != generic_item_id(generic(), {})
    with pytest.raises(ValueError, match="no usable id"):
        generic_item_id(b'{"id": 42}', {})


def test_a_team_phone_must_be_an_international_number() -> None:
    assert CRM.team[0].phone == REP_PHONE
    with pytest.raises(ValidationError, match="international"):
        TeamMember(slack_id="U1", email="a@b.example", phone="415 555 0111")


def test_the_documented_worked_example_verifies_and_parses() -> None:
    """docs/webhooks.md's generic call example: its signature and its body are right."""
    body = (
        '{"id":"pbx-7781","direction":"outbound","from":"+14155550111","to":"+1 415 555 0134",'
        '"started_at":"2026-11-20T14:00:00Z","ended_at":"2026-11-20T14:09:00Z",'
        '"rep_email":"dana.whitfield@acme-analytics.example",'
        '"transcript":"Happy to see the pricing. Next step: send over a quote.","notes":null}'
    )
    signature = "v1=63c7e2d99984536f09d589246b2a17c45ef835b353b8ded6f8a76fb114001e99"
    docs = (ROOT / "docs" / "webhooks.md").read_text()
    assert body in docs
    assert signature in docs
    headers = {"X-Nudge-Timestamp": "1795186800", "X-Nudge-Signature": signature}
    secret = "whsec-example-0123456789"
    assert verify_generic(headers, body.encode(), secret, now=1795186800) == signature
    (item,) = parse_generic(body.encode(), "application/json", CRM, NOW)
    assert isinstance(item, ActivityIn)
    assert (item.direction, item.rep_email, item.facts["duration_s"]) == (
        "outbound",
        REP_EMAIL,
        540,
    )
    assert item.people == (PersonIn(phone=LEAD_PHONE),)
    assert item.facts["transcript_signals"]["next_steps"] == {
        "count": 2,
        "keywords": ["next step", "send over"],
    }
