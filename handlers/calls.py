"""Calls as Nudge input (C1.3): Twilio's voice callbacks and a generic signed JSON shape.

Twilio posts one signed form per event: the call's status (``CallStatus``,
``CallDuration``, ``Timestamp``), its recording (``RecordingSid``, ``RecordingStatus``)
and its transcription (``TranscriptionSid``, ``TranscriptionText``). Each becomes input
for the activity keyed by ``CallSid`` with ``update="merge"``, so one call's callbacks
build one activity. Callbacks may arrive out of order, so only a final status is
recorded: a late "ringing" never undoes "completed". The generic shape is described in
docs/webhooks.md. Recording URLs are not kept; a transcript becomes the activity's body
and only its signals (keyword matches from ``crm.capture.signals``) go in ``facts``.

A Twilio request accepted once is refused as a replay when it comes again: its signature
covers the URL and every parameter, so it is the replay key. Twilio only resends what we
did not answer with a 2xx, so this refuses no retry. There is no staleness window: only
status callbacks carry a time (``Timestamp``, when the event fired, however late Twilio
delivers it), recording and transcription callbacks carry none.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import parse_qsl

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from handlers.call_signals import signal_facts
from handlers.signing import TWILIO_SIGNATURE, verify_generic, verify_twilio
from handlers.webhook import SignedRequest, WebhookSource
from models.config import CrmConfig
from models.services.inputs import ActivityIn, CaptureInput, PersonIn, SkippedIn

TWILIO = "twilio"
GENERIC = "calls"
FORM = "application/x-www-form-urlencoded"
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
SID = re.compile(r"[A-Z]{2}[0-9a-f]{32}", re.IGNORECASE)
WORD = re.compile(r"[a-z][a-z-]{0,31}")
ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+$"
Parties = tuple[str, str | None, str | None]


@lru_cache(maxsize=65_536)  # the same numbers and names come back all day
def e164(number: str | None, region: str) -> str | None:
    """A phone number in E.164 form, or None when it is not a valid one.

    >>> e164("(415) 555-0134", "US"), e164("+44 20 7183 8750", "US"), e164("client:ana", "US")
    ('+14155550134', '+442071838750', None)
    """
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _team(crm: CrmConfig) -> dict[str, str]:
    return {member.phone: member.email for member in crm.team if member.phone}


def _parties(caller: str | None, callee: str | None, inbound: bool, crm: CrmConfig) -> Parties:
    """(direction, outside number, rep email): the team's numbers decide, else ``inbound``."""
    team = _team(crm)
    a, b = e164(caller, crm.default_region), e164(callee, crm.default_region)
    rep_a, rep_b = team.get(a or ""), team.get(b or "")
    if rep_a and rep_b:
        return "internal", None, rep_a
    if rep_a:
        return "outbound", b, rep_a
    if rep_b:
        return "inbound", a, rep_b
    return ("inbound", a, None) if inbound else ("outbound", b, None)


def _call(
    source: str, call_id: str, parties: Parties, at: datetime, facts: dict[str, Any], body: str
) -> CaptureInput:
    """The call's activity (merged with its other deliveries), or why it is not one."""
    way, outside, rep = parties
    if way == "internal":
        return SkippedIn(source, call_id, "internal")
    if outside is None:
        return SkippedIn(source, call_id, "no outside phone number")
    return ActivityIn(
        source=source,
        external_id=call_id,
        kind="call",
        occurred_at=at,
        people=(PersonIn(phone=outside),),
        direction=way,
        rep_email=rep.strip().lower() if rep else None,
        body=body or None,
        facts=facts,
        update="merge",
    )


def _checked(at: datetime, now: datetime) -> datetime:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if not EARLIEST <= at <= now + timedelta(days=1):
        raise ValueError(f"call time {at.isoformat()} is not plausible")
    return at.astimezone(UTC)


def _form(body: bytes, content_type: str) -> dict[str, str]:
    if content_type != FORM:
        raise ValueError(f"a Twilio callback is form-encoded, not {content_type or 'untyped'}")
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"))


def _required(form: Mapping[str, str], name: str, shape: re.Pattern[str]) -> str:
    """A field that must be there, shaped as Twilio writes it (ids and statuses become keys)."""
    value = form.get(name, "").strip()
    if not value:
        raise ValueError(f"callback has no {name}")
    if not shape.fullmatch(value):
        raise ValueError(f"{name} is not shaped like Twilio's: {value[:40]!r}")
    return value


def _seconds(form: Mapping[str, str], name: str) -> int | None:
    value = form.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{name} is not a number of seconds: {value[:20]!r}")
    return int(value)


def _rfc2822(value: str | None, now: datetime) -> datetime:
    return _checked(parsedate_to_datetime(value), now) if value else now


def twilio_item_id(body: bytes, form: Mapping[str, str]) -> str:
    """One id per callback, so each is stored once however often Twilio resends it.

    >>> sids = {"CallSid": "CA" + "c" * 32, "RecordingSid": "RE" + "e" * 32}
    >>> twilio_item_id(b"", sids | {"RecordingStatus": "absent"})
    'REeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee:absent'
    """
    if "TranscriptionSid" in form:
        return _required(form, "TranscriptionSid", SID)
    if "RecordingStatus" in form:
        return f"{_required(form, 'RecordingSid', SID)}:{_required(form, 'RecordingStatus', WORD)}"
    return f"{_required(form, 'CallSid', SID)}:{_required(form, 'CallStatus', WORD)}"


def _parties_of(form: Mapping[str, str], crm: CrmConfig) -> Parties:
    return _parties(form.get("From"), form.get("To"), form.get("Direction") == "inbound", crm)


def _status(form: Mapping[str, str], call_sid: str, crm: CrmConfig, now: datetime) -> CaptureInput:
    status = _required(form, "CallStatus", WORD)
    duration = _seconds(form, "CallDuration")
    facts: dict[str, Any] = {"status": status} if status in FINAL_STATUSES else {}
    if duration is not None:
        facts["duration_s"] = duration
    if form.get("RecordingSid"):
        facts["recording"] = True
    started = _rfc2822(form.get("Timestamp"), now) - timedelta(seconds=duration or 0)
    return _call(TWILIO, call_sid, _parties_of(form, crm), started, facts, "")


def _recording(form: Mapping[str, str], call_sid: str, now: datetime) -> CaptureInput:
    recorded = _required(form, "RecordingStatus", WORD) in ("in-progress", "completed")
    started = _rfc2822(form.get("RecordingStartTime"), now)
    return ActivityIn(
        source=TWILIO,
        external_id=call_sid,
        kind="call",
        occurred_at=started,
        people=(),
        facts={"recording": recorded},
        update="merge",
    )


def _transcription(
    form: Mapping[str, str], call_sid: str, crm: CrmConfig, now: datetime
) -> CaptureInput:
    status = form.get("TranscriptionStatus", "").strip()
    status = status if WORD.fullmatch(status) else "unknown"
    text = form.get("TranscriptionText", "").replace("\x00", "").strip()
    text = text if status == "completed" else ""
    facts: dict[str, Any] = {"transcription": status}
    if text:
        facts["transcript_signals"] = signal_facts(text, crm.capture.signals)
    return _call(TWILIO, call_sid, _parties_of(form, crm), now, facts, text)


def parse_twilio(
    body: bytes, content_type: str, crm: CrmConfig, now: datetime
) -> list[CaptureInput]:
    """One Twilio status, recording or transcription callback → input for its call."""
    form = _form(body, content_type)
    call_sid = _required(form, "CallSid", SID)
    if "TranscriptionSid" in form:
        return [_transcription(form, call_sid, crm, now)]
    if "RecordingStatus" in form:
        return [_recording(form, call_sid, now)]
    if "CallStatus" in form:
        return [_status(form, call_sid, crm, now)]
    raise ValueError("not a call status, recording or transcription callback")


class GenericCall(BaseModel):
    """The generic call shape any phone system can post (docs/webhooks.md)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN)
    direction: Literal["inbound", "outbound"]
    caller: str = Field(alias="from", min_length=1, max_length=64)
    callee: str = Field(alias="to", min_length=1, max_length=64)
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    duration_s: int | None = Field(default=None, ge=0, le=7 * 86_400)
    rep_email: str | None = Field(default=None, max_length=320, pattern=EMAIL_PATTERN)
    transcript: str | None = None
    notes: str | None = None


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )


def generic_item_id(body: bytes, form: Mapping[str, str]) -> str:
    """The call's ``id`` and a digest of the body: a resend is a duplicate, an update is not.

    >>> generic_item_id(b'{"id": "pbx-1"}', {})
    'pbx-1:16d3425eabf421db'
    """
    call_id = json.loads(body)["id"]
    if not isinstance(call_id, str) or not re.fullmatch(ID_PATTERN, call_id):
        raise ValueError("the call has no usable id")
    return f"{call_id}:{hashlib.sha256(body).hexdigest()[:16]}"


def parse_generic(
    body: bytes, content_type: str, crm: CrmConfig, now: datetime
) -> list[CaptureInput]:
    """A generic call body → input for its call; a body that does not fit raises."""
    try:
        call = GenericCall.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(f"invalid call: {_problems(exc)}") from exc
    started = _checked(call.started_at, now)
    ended = _checked(call.ended_at, now) if call.ended_at else None
    if ended is not None and ended < started:
        raise ValueError("ended_at is before started_at")
    duration = call.duration_s
    if duration is None and ended is not None:
        duration = int((ended - started).total_seconds())
    inbound = call.direction == "inbound"
    outside = e164(call.caller if inbound else call.callee, crm.default_region)
    if outside is None:
        raise ValueError(f"'{'from' if inbound else 'to'}' is not a valid phone number")
    ours = e164(call.callee if inbound else call.caller, crm.default_region)
    rep = call.rep_email or _team(crm).get(ours or "")
    facts: dict[str, Any] = {} if duration is None else {"duration_s": duration}
    text = "\n\n".join(part for part in (call.notes, call.transcript) if part).replace("\x00", "")
    if text:
        facts["transcript_signals"] = signal_facts(text, crm.capture.signals)
    way = "internal" if outside in _team(crm) else call.direction
    return [_call(GENERIC, call.id, (way, outside, rep), started, facts, text)]


def _verify_twilio(request: SignedRequest, secret: str, now: float) -> str:
    """Check Twilio's signature; it is the replay key (another callback signs otherwise)."""
    verify_twilio(request.headers, request.url, request.form, secret)
    return request.headers[TWILIO_SIGNATURE].strip()


def _verify_generic(request: SignedRequest, secret: str, now: float) -> str:
    return verify_generic(request.headers, request.body, secret, now=now)


TWILIO_CALLS = WebhookSource(
    name=TWILIO,
    path="/webhooks/calls/twilio",
    secret_variable="TWILIO_AUTH_TOKEN",  # noqa: S106 (a variable's name, not a secret)
    verify=_verify_twilio,
    item_id=twilio_item_id,
    parse=parse_twilio,
)
GENERIC_CALLS = WebhookSource(
    name=GENERIC,
    path="/webhooks/calls",
    secret_variable="NUDGE_WEBHOOK_SECRET",  # noqa: S106 (a variable's name, not a secret)
    verify=_verify_generic,
    item_id=generic_item_id,
    parse=parse_generic,
)
