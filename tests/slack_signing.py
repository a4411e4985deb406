"""Build Slack-signed request bodies and headers the way Slack sends them.

Bodies are returned as the exact strings to send, because the signature covers
the raw bytes; pair them with :data:`JSON_CONTENT_TYPE` (events) or
:data:`FORM_CONTENT_TYPE` (slash commands, interactivity).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
VERIFICATION_TOKEN = "fake-verification-token"
DEFAULT_TRIGGER_ID = "1732530000.1234567890.0123456789abcdef0123456789abcdef"


def signed_headers(
    body: str,
    secret: str,
    timestamp: int | None = None,
    *,
    content_type: str | None = None,
) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` for ``body`` (now by default).

    Slack never sends one request twice: a second press of a button or a second command is
    a new request. So a body signed again within the same second gets the next second's
    timestamp, as it would have a new one from Slack (Nudge refuses an exact replay).
    ``content_type``, when given, is added as ``Content-Type``.
    """
    ts = _fresh(body) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


_SIGNED_AT: dict[str, int] = {}


def _fresh(body: str) -> int:
    """Now, or one second after the last time this body was signed, if that is later."""
    ts = max(int(time.time()), _SIGNED_AT.get(body, 0) + 1)
    _SIGNED_AT[body] = ts
    return ts


def retry_headers(num: int, reason: str = "http_timeout") -> dict[str, str]:
    """Headers Slack adds when it redelivers an event."""
    return {"X-Slack-Retry-Num": str(num), "X-Slack-Retry-Reason": reason}


def event_body(
    event: dict[str, Any],
    *,
    event_id: str,
    team_id: str = "T0001",
    api_app_id: str = "A0001",
    bot_user_id: str = "U0BOT",
) -> str:
    """JSON envelope of an Events API ``event_callback`` delivering ``event``."""
    event_time = int(float(event.get("event_ts", time.time())))
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return json.dumps(envelope)


def command_body(
    command: str,
    text: str,
    *,
    user_id: str,
    channel_id: str = "C0001",
    team_id: str = "T0001",
    trigger_id: str = DEFAULT_TRIGGER_ID,
    response_url: str | None = None,
    api_app_id: str = "A0001",
) -> str:
    """Form-encoded slash-command payload, e.g. ``command_body("/nudge", "help", user_id=...)``."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": "nudge-test",
        "channel_id": channel_id,
        "channel_name": "general" if channel_id.startswith("C") else "directmessage",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url
        or f"https://hooks.slack.com/commands/{team_id}/1732530000/fakeResponseUrlSecret",
        "trigger_id": trigger_id,
    }
    return urlencode(fields)


def action_body(payload: dict[str, Any]) -> str:
    """Form-encoded interactivity request: a single ``payload`` field holding JSON."""
    return urlencode({"payload": json.dumps(payload)})
