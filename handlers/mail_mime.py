"""Walk the MIME tree: body text, raw calendar parts and attachment metadata."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_string
from email.message import Message
from email.policy import compat32
from typing import Literal

from handlers.mail_text import collapse, decode_bytes, decode_words, html_to_text

# (filename, content type, size in bytes) of an attached file.
Attachment = tuple[str | None, str, int]


@dataclass(slots=True)
class Content:
    """What the parts of a message hold, apart from the headers."""

    text: str
    calendar_parts: tuple[bytes, ...]
    attachments: tuple[Attachment, ...]


def _leaf_parts(message: Message) -> Iterator[tuple[Message, str]]:
    """Non-multipart parts with their content types, in document order.

    Attached messages are not entered.
    """
    stack = [message]
    while stack:
        part = stack.pop()
        content_type = part.get_content_type()
        if content_type.startswith("multipart/"):
            children = _children(part) if part.is_multipart() else _salvage_parts(part)
            if children:
                stack.extend(reversed(children))
                continue
        yield part, content_type


_BOUNDARY_LINE = re.compile(r"^--([^\s\"]{1,70})[ \t]*\r?\n[\w-]+:", re.MULTILINE)


def _children(part: Message) -> list[Message]:
    """The sub-parts of a parsed multipart."""
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)]


def _salvage_parts(part: Message) -> list[Message]:
    """Children of a multipart whose declared boundary never occurs, using the one that does."""
    payload = part.get_payload()
    if not isinstance(payload, str) or (match := _BOUNDARY_LINE.search(payload)) is None:
        return []
    envelope = f'Content-Type: multipart/mixed; boundary="{match.group(1)}"\n\n'
    repaired = message_from_string(envelope + payload, policy=compat32)
    return _children(repaired) if repaired.is_multipart() else []


def _payload_bytes(part: Message) -> bytes:
    """The part's content with its transfer encoding undone."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _part_text(part: Message) -> str:
    """The part's content decoded to text."""
    return decode_bytes(_payload_bytes(part), part.get_content_charset())


def _filename(part: Message) -> str | None:
    """The decoded file name of a part, or None."""
    name = part.get_filename()
    if name is None:
        return None
    return collapse(decode_words(name)) or None


_PartKind = Literal["plain", "html", "calendar", "attachment"]


def _part_kind(part: Message, content_type: str) -> _PartKind:
    """What a leaf part is to the parser."""
    if content_type == "text/calendar":
        return "calendar"
    if part.get_filename() is not None or part.get_content_disposition() == "attachment":
        return "attachment"
    if content_type == "text/html":
        return "html"
    if content_type == "text/plain" or content_type.startswith("multipart/"):
        return "plain"
    return "attachment"


def _attachment(part: Message, content_type: str) -> Attachment:
    """Metadata of an attached part; an attached message is measured as a whole."""
    is_message = content_type.startswith("message/")
    size = len(part.as_bytes()) if is_message else len(_payload_bytes(part))
    return _filename(part), content_type, size


def read_parts(message: Message) -> Content:
    """Body text (text/plain preferred over HTML), calendar parts and attachment metadata."""
    plain: str | None = None
    html: str | None = None
    calendar_parts: list[bytes] = []
    attachments: list[Attachment] = []
    for part, content_type in _leaf_parts(message):
        kind = _part_kind(part, content_type)
        if kind == "calendar":
            calendar = _payload_bytes(part)
            if calendar not in calendar_parts:
                calendar_parts.append(calendar)
        elif kind == "attachment":
            attachments.append(_attachment(part, content_type))
        elif kind == "html":
            if html is None:
                html = _part_text(part)
        elif plain is None or not plain.strip():
            plain = _part_text(part)
    if plain is not None and plain.strip():
        text = plain
    else:
        text = html_to_text(html) if html is not None else ""
    return Content(text, tuple(calendar_parts), tuple(attachments))
