"""Structured logging that never writes secrets or personal data.

Every record, structlog's and the standard library's (slack_bolt, slack_sdk, aiohttp,
apscheduler, sqlalchemy...), passes through ``redact_event`` before it is rendered.

>>> redact("mail from ana@globex.example, call +1 415 555 0134, token xoxb-123-abc")
'mail from [email], call [phone], token [secret]'
>>> redact("at 2026-11-25T10:22:01Z, dial (415) 555-0134")
'at 2026-11-25T10:22:01Z, dial [phone]'
>>> redact('From: "Ana Silva" <ana@globex.example>, Bruno da Costa <bruno@globex.example>')
'From: [name] <[email]>, [name] <[email]>'
>>> redact("Authorization: Bearer ndg_abc; key ndg_x-1 at https://AC1:tok@api.twilio.com/")
'Authorization: [secret]; key [secret] at https://[secret]@api.twilio.com/'

Names are recognised only by position: under a name-bearing key (``NAME_KEYS``) or as
the display name before an ``<address>``. A name in free prose ("met Ana today") cannot
be told from other words, so it is not removed; keep people's names out of messages.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from structlog.typing import Processor

_WORD = r"[^\W\d_a-z][\w'\u2019.-]*"  # starts with a capital or a non-ASCII letter
_NAME = rf"{_WORD}(?:[ \t]+(?:[a-z]{{1,3}}[ \t]+)?{_WORD}){{0,3}}"  # "Ana da Silva"
_ENCODED = r"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?="  # RFC 2047: =?UTF-8?Q?Ana_M=C3=A1rquez?=
_SENSITIVE = r"token|secret|password|passwd|api_?key|signature"  # before ":" or "="
_DISPLAY_NAME = rf"(?:\"[^\"\r\n]*\"|{_ENCODED}(?:\s+{_ENCODED})*|{_NAME})(?=\s*<[^<>\s@]*@)"
_PATTERNS = (
    (re.compile(r"(?<=://)[^\s/@:]+:[^\s/@]+@"), "[secret]@"),  # user:password@ in URLs
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,;}]+"), r"\1[secret]"),
    (re.compile(r"(?i)\b(bearer)\s+[\w.~+/-]+=*"), r"\1 [secret]"),
    (re.compile(rf"(?i)((?:{_SENSITIVE})[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}}]+"), r"\1[secret]"),
    (re.compile(r"\b(?:xox[a-z.]*|xapp)-[\w-]+|\bndg_[\w-]+|\bv\d=[0-9a-fA-F]{16,}"), "[secret]"),
    (re.compile(r"(hooks\.slack\.com/)[\w/-]+"), r"\1[secret]"),
    (re.compile(_DISPLAY_NAME), "[name]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"\+\d[\d ().-]{6,}\d"), "[phone]"),
    (re.compile(r"(?<!\d)\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"), "[phone]"),
)
SECRET_KEYS = ("token", "password", "passwd", "secret", "authorization", "cookie", "api_key")
NAME_KEYS = frozenset(
    {
        "name", "first_name", "last_name", "full_name", "display_name", "real_name",
        "given_name", "family_name", "contact", "contact_name", "person", "people", "who",
        "sender", "from", "from_", "to", "cc", "bcc", "reply_to", "recipient", "author",
        "attendee", "attendees", "participant", "participants", "username", "user_name",
    }
)  # fmt: skip
_MAX_DEPTH = 8


def redact(text: str) -> str:
    """Replace secrets, display names, email addresses and phone numbers in a string."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _text(value: Any) -> str:
    """A string of any value: bytes decoded leniently, other objects by their repr."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else repr(value)


def _clean(value: Any, *, named: bool, depth: int) -> Any:
    """``value`` with every string redacted, or replaced by ``[name]`` when ``named``."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth < _MAX_DEPTH and isinstance(value, Mapping):
        return {
            redact(_text(key)): _redact_value(_text(key), item, named=named, depth=depth + 1)
            for key, item in value.items()
        }
    if depth < _MAX_DEPTH and isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, named=named, depth=depth + 1) for item in value]
    return "[name]" if named else redact(_text(value))


def _redact_value(key: str, value: Any, *, named: bool = False, depth: int = 0) -> Any:
    """The value of ``key``, redacted; never raises."""
    lowered = key.lower()
    if any(word in lowered for word in SECRET_KEYS):
        return "[secret]"
    try:
        return _clean(value, named=named or lowered in NAME_KEYS, depth=depth)
    except Exception:  # a broken __repr__ or a mapping that fails to iterate
        return "[unloggable]"


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every field of a log event."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def _enrich() -> list[Processor]:
    """Level, UTC timestamp and formatted traceback (redacted after, with the rest)."""
    return [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]


class _StderrHandler(logging.Handler):
    """Writes to the ``sys.stderr`` of the moment, as ``logging.basicConfig`` did."""

    def emit(self, record: logging.LogRecord) -> None:
        """One rendered line per record."""
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        """Report the failure without the record's message and arguments (they may hold PII)."""
        with contextlib.suppress(OSError, ValueError):  # stderr closed
            sys.stderr.write(f"[logging] a record from {record.name} could not be written\n")


def _stdlib_handler(renderer: Processor) -> logging.Handler:
    """A root handler that renders library records like structlog's, after redaction."""
    handler = _StderrHandler()
    handler.set_name(__name__)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_enrich()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_event,
                renderer,
            ],
        )
    )
    return handler


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    """structlog to stdout, the standard library to stderr, both redacted and rendered alike.

    Records only pass through the handler installed here; a handler another library adds
    to the root logger would write unredacted lines.
    """
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if handler.get_name() == __name__]:
        root.removeHandler(old)
    root.addHandler(_stdlib_handler(renderer))
    root.setLevel(level.upper())
    for noisy in ("alembic", "aioimaplib"):  # aioimaplib's debug lines contain mail
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*_enrich(), redact_event, renderer],
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
