"""Read the top-level headers: addresses, message ids, the sending date and skip signals."""

import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from handlers.mail_text import collapse, decode_bytes, decode_words

# Lower-cased names of the top-level headers the parser reads.
_READ_HEADERS = frozenset(
    {
        *("message-id", "date", "from", "sender", "to", "cc", "subject", "in-reply-to"),
        *("references", "received", "auto-submitted", "precedence", "x-autoreply"),
        *("x-autorespond", "list-unsubscribe", "list-id"),
    }
)
Headers = dict[str, list[str]]


def read_headers(message: Message) -> Headers:
    """The headers the parser needs, collected in one pass; raw 8-bit values are decoded."""
    headers: Headers = {}
    for name, value in message.raw_items():
        key = name.lower()
        if key in _READ_HEADERS:
            headers.setdefault(key, []).append(_raw_header_text(value))
    return headers


def _raw_header_text(value: str) -> str:
    """Header text; bytes the parser kept as surrogates are decoded like a body of unknown charset.

    Encoded words are left alone: addresses must be split before their names are decoded.
    """
    if value.isascii():
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"), None)


def first(headers: Headers, name: str) -> str:
    """The first value of a header, or "" if it is missing."""
    values = headers.get(name)
    return values[0] if values else ""


def mailboxes(headers: Headers, name: str) -> tuple[tuple[str, str], ...]:
    """(lower-cased address, decoded display name) pairs of an address header, deduplicated."""
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for text in headers.get(name, []):
        pairs = _simple_mailboxes(text)
        for display_name, address in getaddresses([text]) if pairs is None else pairs:
            email = address.strip().lower()
            if "@" in email and email not in seen:
                seen.add(email)
                found.append((email, collapse(decode_words(display_name)).strip("\"'")))
    return tuple(found)


_ADDR_SPEC = r"[^<>\s@\",;:()\[\]\\]+@[^<>\s@\",;:()\[\]\\]+"
_SIMPLE_MAILBOX = re.compile(
    rf"""\s*(?:(?:"(?P<quoted>[^"\\]*)"\s*|(?P<plain>[^"<>@,;:()\[\]\\]*))<(?P<angle>{_ADDR_SPEC})>"""
    rf"""|(?P<bare>{_ADDR_SPEC}))\s*(?:,|$)"""
)


def _simple_mailboxes(text: str) -> list[tuple[str, str]] | None:
    """Fast path for plain ``Name <a@b>, c@d`` lists; None when the full parser is needed.

    >>> _simple_mailboxes('"Doe, Jane" <jane@acme.com>, bob@globex.com')
    [('Doe, Jane', 'jane@acme.com'), ('', 'bob@globex.com')]
    >>> _simple_mailboxes("Team: a@acme.com, b@acme.com;") is None
    True
    """
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(text):  # anchored at each mailbox: one attempt each, never a rescan
        match = _SIMPLE_MAILBOX.match(text, position)
        if match is None:
            return None
        quoted = match["quoted"]
        display_name = (match["plain"] or "").strip() if quoted is None else quoted
        pairs.append((display_name, match["angle"] or match["bare"]))
        position = match.end()
    return pairs


_ANGLE_ID = re.compile(r"<([^<>\s]+)>")


def all_ids(value: str) -> tuple[str, ...]:
    """The message ids in a header value, without ``<>``."""
    ids = _ANGLE_ID.findall(value) or [token.strip("<>") for token in value.split()]
    return tuple(message_id for message_id in ids if message_id)


def first_id(value: str) -> str | None:
    """The first message id in a header value, or None."""
    ids = all_ids(value)
    return ids[0] if ids else None


def _parse_date(value: str) -> datetime | None:
    """An RFC 5322 date in UTC (naive dates count as UTC), or None if unreadable."""
    try:
        parsed = parsedate_to_datetime(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def date_sent(headers: Headers) -> datetime | None:
    """When the mail was sent: the Date header, else the newest Received date, else None."""
    sent = _parse_date(first(headers, "date"))
    if sent is not None:
        return sent
    received = [_parse_date(value.rpartition(";")[2]) for value in headers.get("received", [])]
    return max((date for date in received if date is not None), default=None)


_AUTO_REPLY_SUBJECTS = ("out of office", "automatic reply")


def reason_to_skip(headers: Headers, subject: str) -> str | None:
    """Why no person wrote the mail: "auto-reply", "bulk" or "list"; None for a personal mail."""
    auto_submitted = first(headers, "auto-submitted").strip().lower()
    precedence = first(headers, "precedence").strip().lower()
    if (
        (auto_submitted and not auto_submitted.startswith("no"))
        or "x-autoreply" in headers
        or "x-autorespond" in headers
        or precedence == "auto_reply"
        or subject.lower().startswith(_AUTO_REPLY_SUBJECTS)
    ):
        return "auto-reply"
    if precedence in ("bulk", "junk", "list"):
        return "bulk"
    if "list-unsubscribe" in headers or "list-id" in headers:
        return "list"
    return None
