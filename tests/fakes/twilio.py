"""What Twilio sends a voice app: form-encoded callbacks, signed the way Twilio documents.

The signature is computed here independently of the product: the full URL Twilio was
given (query string included), then every POST parameter's name followed by its value,
in name order, HMAC-SHA1 with the auth token, base64-encoded. tests/fakes/test_twilio.py
checks it against Twilio's published examples. Field names follow Twilio's voice
webhook docs (call status, recording status and ``<Record transcribe>`` callbacks).
"""

from __future__ import annotations

import base64
import hmac
import uuid
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlencode

ACCOUNT_SID = "AC" + "5ef8732a3c49700934481addd5ce1659"
API_BASE = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """``X-Twilio-Signature`` for a POST of ``params`` to ``url``."""
    signed = url.encode("utf-8")
    for name in sorted(params):
        signed += name.encode("utf-8") + params[name].encode("utf-8")
    return base64.b64encode(hmac.digest(auth_token.encode("utf-8"), signed, "sha1")).decode()


def signed_post(url: str, params: Mapping[str, str], auth_token: str) -> tuple[str, dict[str, str]]:
    """The body and headers of Twilio's POST of ``params`` to ``url``."""
    headers = {
        "Content-Type": FORM_CONTENT_TYPE,
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        "X-Twilio-Signature": signature(url, params, auth_token),
    }
    return urlencode(params), headers


def sid(prefix: str, n: int) -> str:
    """A Twilio-shaped id: two letters and 32 hex digits."""
    return f"{prefix}{n:032x}"


def _call_params(call_sid: str, caller: str, called: str, direction: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "Called": called,
        "Caller": caller,
        "Direction": direction,
        "From": caller,
        "FromCountry": "US",
        "To": called,
        "ToCountry": "US",
    }


def status_callback(
    call_sid: str,
    status: str,
    *,
    caller: str,
    called: str,
    at: datetime,
    direction: str = "inbound",
    duration_s: int | None = None,
    sequence: int = 0,
) -> dict[str, str]:
    """A call status callback (``CallDuration`` only once the call has ended)."""
    params = _call_params(call_sid, caller, called, direction) | {
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
        "SequenceNumber": str(sequence),
        "Timestamp": format_datetime(at),
    }
    if duration_s is not None:
        params |= {"CallDuration": str(duration_s), "Duration": str(-(-duration_s // 60))}
    return params


def recording_callback(
    call_sid: str, recording_sid: str, *, started: datetime, duration_s: int, status: str
) -> dict[str, str]:
    """A recording status callback: it names the call but not its numbers."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "ErrorCode": "0",
        "RecordingChannels": "2",
        "RecordingDuration": str(duration_s),
        "RecordingSid": recording_sid,
        "RecordingSource": "DialVerb",
        "RecordingStartTime": format_datetime(started),
        "RecordingStatus": status,
        "RecordingTrack": "both",
        "RecordingUrl": f"{API_BASE}/Recordings/{recording_sid}",
    }


def transcription_callback(
    call_sid: str,
    recording_sid: str,
    transcription_sid: str,
    text: str,
    *,
    caller: str,
    called: str,
    direction: str = "inbound",
    status: str = "completed",
) -> dict[str, str]:
    """A ``<Record transcribeCallback>`` request, with the call's own parameters."""
    return _call_params(call_sid, caller, called, direction) | {
        "CallStatus": "completed",
        "RecordingSid": recording_sid,
        "RecordingUrl": f"{API_BASE}/Recordings/{recording_sid}",
        "TranscriptionSid": transcription_sid,
        "TranscriptionStatus": status,
        "TranscriptionText": text if status == "completed" else "",
        "TranscriptionType": "fast",
        "TranscriptionUrl": f"{API_BASE}/Recordings/{recording_sid}/Transcriptions/"
        f"{transcription_sid}",
        "url": f"{API_BASE}/Recordings/{recording_sid}/Transcriptions/{transcription_sid}",
    }
