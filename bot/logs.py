"""Structured logging that never writes secrets or personal data.

>>> redact("mail from ana@globex.example, call +1 415 555 0134, token xoxb-123-abc")
'mail from [email], call [phone], token [secret]'
>>> redact("at 2026-11-25T10:22:01Z, dial (415) 555-0134")
'at 2026-11-25T10:22:01Z, dial [phone]'
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

_PATTERNS = (
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+"), "[secret]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"\+\d[\d ().-]{6,}\d"), "[phone]"),
    (re.compile(r"(?<!\d)\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"), "[phone]"),
)
SECRET_KEYS = frozenset({"token", "password", "secret", "authorization", "signing_secret"})


def redact(text: str) -> str:
    """Replace secrets, email addresses and phone numbers in a string."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if key.lower() in SECRET_KEYS:
        return "[secret]"
    if isinstance(value, str):
        return redact(value)
    return value


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every field of a log event."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    """Send structlog and the standard library's logging through the redactor."""
    logging.basicConfig(level=level.upper(), format="%(message)s")
    for noisy in ("alembic", "aioimaplib"):  # aioimaplib's debug lines contain mail
        logging.getLogger(noisy).setLevel(logging.WARNING)
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )


class AccessLogger(AbstractAccessLogger):
    """One structured, redacted line per HTTP request, without the query string.

    aiohttp's default line carries the whole request line, so a search like
    ``?q=ana@globex.example`` would reach the log as it was typed.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Method, path, status and milliseconds."""
        structlog.get_logger("http").info(
            "http.request",
            method=request.method,
            path=request.path,
            status=response.status,
            ms=round(time * 1000, 1),
        )
