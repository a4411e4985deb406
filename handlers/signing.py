"""Webhook signature schemes: Nudge's generic HMAC, Twilio's, and HubSpot's v3.

Each verifier returns the key that identifies this exact signed request (to refuse a
replay); it raises :class:`SignatureError` with a readable reason otherwise.

>>> body, now = b'{"id": 1}', 1_700_000_000
>>> headers = generic_headers(body, "s3cret", timestamp=now)
>>> verify_generic(headers, body, "s3cret", now=now) == headers[GENERIC_SIGNATURE]
True
>>> verify_generic(headers, body + b" ", "s3cret", now=now)
Traceback (most recent call last):
...
handlers.signing.SignatureError: signature does not match the body
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

WINDOW_S = 300
GENERIC_SIGNATURE = "X-Nudge-Signature"
GENERIC_TIMESTAMP = "X-Nudge-Timestamp"
TWILIO_SIGNATURE = "X-Twilio-Signature"
HUBSPOT_SIGNATURE = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP = "X-HubSpot-Request-Timestamp"


class SignatureError(Exception):
    """A request whose signature is missing, wrong, stale or replayed."""


def _fresh(timestamp: str | None, now: float, *, divisor: int = 1) -> int:
    """The whole-number timestamp, if it is within the window of ``now``."""
    if not timestamp:
        raise SignatureError("missing timestamp")
    if not timestamp.strip().isdigit():
        raise SignatureError("timestamp is not a whole number")
    sent = int(timestamp.strip())
    if abs(now - sent / divisor) > WINDOW_S:
        raise SignatureError("stale timestamp: more than 5 minutes from now")
    return sent


def _same(expected: str, given: str | None) -> None:
    if not given:
        raise SignatureError("missing signature")
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise SignatureError("signature does not match the body")


def generic_signature(body: bytes, secret: str, timestamp: int) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``{timestamp}.{body}``: the documented generic scheme."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def generic_headers(body: bytes, secret: str, *, timestamp: int) -> dict[str, str]:
    """The headers a sender of the generic scheme attaches."""
    return {
        GENERIC_TIMESTAMP: str(timestamp),
        GENERIC_SIGNATURE: generic_signature(body, secret, timestamp),
    }


def verify_generic(headers: Mapping[str, str], body: bytes, secret: str, *, now: float) -> str:
    """Check the generic HMAC scheme (5-minute window); returns the replay key."""
    sent = _fresh(headers.get(GENERIC_TIMESTAMP), now)
    given = headers.get(GENERIC_SIGNATURE)
    _same(generic_signature(body, secret, sent), given)
    return str(given).strip()


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """Base64 HMAC-SHA1 of the URL followed by each POST parameter name and value, sorted."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode()


def verify_twilio(
    headers: Mapping[str, str], url: str, params: Mapping[str, str], auth_token: str
) -> None:
    """Check ``X-Twilio-Signature`` (Twilio signs no timestamp: a resend is refused as a
    replay, by the signature's key, but staleness cannot be told)."""
    _same(twilio_signature(url, params, auth_token), headers.get(TWILIO_SIGNATURE))


def hubspot_signature(method: str, uri: str, body: bytes, timestamp: str, secret: str) -> str:
    """Base64 HMAC-SHA256 of method + URI + body + timestamp (HubSpot's v3 scheme)."""
    data = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


def verify_hubspot(
    headers: Mapping[str, str], method: str, uri: str, body: bytes, secret: str, *, now: float
) -> str:
    """Check HubSpot's v3 signature and its 5-minute window; returns the replay key."""
    sent = _fresh(headers.get(HUBSPOT_TIMESTAMP), now, divisor=1000)
    given = headers.get(HUBSPOT_SIGNATURE)
    _same(hubspot_signature(method, uri, body, str(sent), secret), given)
    return str(given).strip()
