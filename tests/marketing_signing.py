"""Sign marketing webhooks the way their senders do, written from the senders' documentation.

Independent of the product's own signing code, so a test that passes proves both sides
read the documentation the same way.

- HubSpot v3: ``X-HubSpot-Signature-v3`` is the base64 HMAC-SHA256, keyed with the app's
  client secret, of method + full URI + raw body + the ``X-HubSpot-Request-Timestamp``
  value (milliseconds since the epoch).
- Nudge generic (docs/webhooks.md): ``X-Nudge-Signature`` is ``v1=`` + the hex
  HMAC-SHA256, keyed with ``NUDGE_WEBHOOK_SECRET``, of ``{X-Nudge-Timestamp}.{raw body}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

# HubSpot's own SDK test vector (hubspot-api-python, tests/spec/utils/test_signature.py).
HUBSPOT_EXAMPLE = {
    "secret": "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
    "method": "POST",
    "uri": "https://www.example.com/webhook_uri",
    "body": b"{'example_field':'example_value'}",
    "timestamp": "15000000",
    "signature": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=",
}


def hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature of one request."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot_headers(
    secret: str, uri: str, body: bytes, *, timestamp_ms: int | None = None
) -> dict[str, str]:
    """The headers HubSpot sends with a POST to ``uri`` (signed now unless told otherwise)."""
    stamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-Version": "v3",
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-v3": hubspot_v3(secret, "POST", uri, body, stamp),
    }


def generic_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender of Nudge's generic JSON attaches (signed now unless told otherwise)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Nudge-Timestamp": stamp,
        "X-Nudge-Signature": f"v1={digest}",
    }
