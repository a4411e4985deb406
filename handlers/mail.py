r"""Parse raw RFC 5322 mail into typed, pure-data records.

Parsing uses the fast ``compat32`` policy and decodes only what is needed. Quoted replies and
the sender's signature are cut from the body; the signature is parsed into phone, title and
company.

>>> raw = (b"Message-ID: <a1@acme.com>\r\nDate: Tue, 2 Jan 2024 10:00:00 +0100\r\n"
...        b"From: Jane Doe <Jane@Acme.com>\r\nTo: bob@globex.com\r\nSubject: Pilot\r\n\r\n"
...        b"Can we start Monday?\r\n\r\nBest,\r\nJane\r\nVP Sales, Acme Inc.\r\n"
...        b"m: (415) 555-0134\r\n")
>>> mail = parse_email(raw)
>>> mail.sender
Address(email='jane@acme.com', name='Jane Doe')
>>> mail.sent_at.isoformat(), mail.thread_key
('2024-01-02T09:00:00+00:00', 'a1@acme.com')
>>> mail.body
'Can we start Monday?\n\nBest,'
>>> mail.signature
Signature(phone='+14155550134', title='VP Sales', company='Acme Inc.')
>>> direction(mail, frozenset({"acme.com"}))
'outbound'
"""

import codecs
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Literal

import phonenumbers


class MailParseError(ValueError):
    """The bytes cannot be understood as an email; the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: lower-cased address and display name."""

    email: str
    name: str


@dataclass(frozen=True, slots=True)
class Signature:
    """Contact details read from the sender's signature block."""

    phone: str | None = None
    title: str | None = None
    company: str | None = None


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """Metadata of an attached file; the content itself is not kept."""

    filename: str | None
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """Everything the CRM needs from one email."""

    message_id: str  # without <>; "sha256:<hex of the raw bytes>" when the header is missing
    sent_at: datetime  # UTC; from Date, else the newest Received date
    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    thread_key: str  # root of the thread: first reference, else In-Reply-To, else message_id
    body: str  # the author's own text: no quoted reply, no signature
    signature: Signature
    skip_reason: str | None  # "auto-reply", "bulk" or "list" for mail no person wrote
    calendar_parts: tuple[bytes, ...]  # raw text/calendar parts
    attachments: tuple[AttachmentInfo, ...]


Direction = Literal["inbound", "outbound", "internal"]


def parse_email(raw: bytes, *, default_region: str = "US") -> ParsedEmail:
    r"""Parse raw RFC 5322 bytes; raise MailParseError if they cannot be understood.

    ``default_region`` is the ISO country used for signature phone numbers without a ``+``.

    >>> parse_email(b"")
    Traceback (most recent call last):
    ...
    handlers.mail.MailParseError: empty input
    >>> parse_email(b"\x00\xff not a mail at all")
    Traceback (most recent call last):
    ...
    handlers.mail.MailParseError: not an email: no Message-ID, Date or From header
    """
    if not raw or raw.isspace():
        raise MailParseError("empty input")
    try:
        return _parse(raw, default_region.upper())
    except MailParseError:
        raise
    except Exception as exc:  # the contract: unreadable input only ever raises MailParseError
        raise MailParseError(f"malformed email ({type(exc).__name__})") from exc


def direction(parsed: ParsedEmail, internal_domains: frozenset[str]) -> Direction:
    r"""Classify mail as sent to customers, received from them, or purely internal.

    >>> mail = parse_email(b"From: a@sales.acme.com\r\nTo: b@acme.com\r\n"
    ...                    b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\nhi")
    >>> direction(mail, frozenset({"acme.com"}))
    'internal'
    """
    domains = _normalise_domains(internal_domains)
    if not _is_internal(parsed.sender, domains):
        return "inbound"
    recipients = parsed.to + parsed.cc
    if any(not _is_internal(address, domains) for address in recipients):
        return "outbound"
    return "internal"


def external_participants(
    parsed: ParsedEmail, internal_domains: frozenset[str]
) -> tuple[Address, ...]:
    """Everyone outside the internal domains, sender first, without duplicates."""
    domains = _normalise_domains(internal_domains)
    seen: set[str] = set()
    external: list[Address] = []
    for address in (parsed.sender, *parsed.to, *parsed.cc):
        if address.email not in seen and not _is_internal(address, domains):
            seen.add(address.email)
            external.append(address)
    return tuple(external)


# --- top-level parsing -------------------------------------------------------------------------


def _parse(raw: bytes, region: str) -> ParsedEmail:
    message = message_from_bytes(raw.lstrip(), policy=compat32)
    headers = _read_headers(message)
    if not any(name in headers for name in ("message-id", "date", "from")):
        raise MailParseError("not an email: no Message-ID, Date or From header")
    senders = _addresses(headers, "from") or _addresses(headers, "sender")
    if not senders:
        raise MailParseError("no sender address in From header")
    message_id = _first_id(_first(headers, "message-id"))
    own_id = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    in_reply_to = _first_id(_first(headers, "in-reply-to"))
    references = _all_ids(_first(headers, "references"))
    subject = _collapse(_decode_words(_first(headers, "subject")))
    sent_at = _sent_at(headers)
    content = _read_parts(message)
    body, signature_lines = _split_body(content.text)
    return ParsedEmail(
        message_id=own_id,
        sent_at=sent_at,
        sender=senders[0],
        to=_addresses(headers, "to"),
        cc=_addresses(headers, "cc"),
        subject=subject,
        in_reply_to=in_reply_to,
        references=references,
        thread_key=references[0] if references else in_reply_to or own_id,
        body=body,
        signature=_parse_signature(signature_lines, region),
        skip_reason=_skip_reason(headers, subject),
        calendar_parts=content.calendar_parts,
        attachments=content.attachments,
    )


# --- charsets and headers ----------------------------------------------------------------------

# Single-byte charsets decode any bytes, so a mislabelled UTF-8 body would silently turn into
# mojibake; valid UTF-8 wins over these declarations.
_ANY_BYTES_CHARSETS = frozenset({"iso8859-1", "iso8859-15", "cp1252"})
_REAL_NON_ASCII = re.compile(r"[^\x00-\x7f\ufffd]")


@lru_cache(maxsize=256)
def _codec_name(charset: str | None) -> str | None:
    """Python's name for a declared charset, or None if unknown."""
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None


def _try_decode(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (LookupError, UnicodeError):
        return None


def _decode(data: bytes, charset: str | None) -> str:
    r"""Decode with the declared charset, else UTF-8, else Windows-1252/Latin-1; never fails.

    >>> _decode("café".encode(), "iso-8859-1"), _decode(b"caf\xe9", "utf-8")
    ('café', 'café')
    >>> _decode("naïve café".encode()[:-1], "x-unknown") == "naïve caf\ufffd"
    True
    """
    codec = _codec_name(charset)
    if codec in _ANY_BYTES_CHARSETS and (text := _try_decode(data, "utf-8")) is not None:
        return text
    if codec and (text := _try_decode(data, codec)) is not None:
        return text
    if (text := _try_decode(data, "utf-8")) is not None:
        return text
    lenient = data.decode("utf-8", "replace")
    if _REAL_NON_ASCII.search(lenient):  # mostly UTF-8 with a few damaged bytes
        return lenient
    return _try_decode(data, "cp1252") or data.decode("latin-1")


# Lower-cased names of the top-level headers the parser reads.
_READ_HEADERS = frozenset(
    {
        *("message-id", "date", "from", "sender", "to", "cc", "subject", "in-reply-to"),
        *("references", "received", "auto-submitted", "precedence", "x-autoreply"),
        *("x-autorespond", "list-unsubscribe", "list-id"),
    }
)
_Headers = dict[str, list[str]]


def _read_headers(message: Message) -> _Headers:
    """The headers the parser needs, collected in one pass; raw 8-bit values are decoded."""
    headers: _Headers = {}
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
    return _decode(value.encode("utf-8", "surrogateescape"), None)


def _first(headers: _Headers, name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words.

    >>> _decode_words("=?utf-8?q?Caf=C3=A9?= time")
    'Café time'
    """
    if "=?" not in text:
        return text
    try:
        chunks = decode_header(text)
    except HeaderParseError:
        return text
    return "".join(
        _decode(chunk, charset or "raw-unicode-escape") if isinstance(chunk, bytes) else chunk
        for chunk, charset in chunks
    )


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _addresses(headers: _Headers, name: str) -> tuple[Address, ...]:
    seen: set[str] = set()
    found: list[Address] = []
    for text in headers.get(name, []):
        pairs = _simple_mailboxes(text)
        for display_name, address in getaddresses([text]) if pairs is None else pairs:
            email = address.strip().lower()
            if "@" in email and email not in seen:
                seen.add(email)
                found.append(Address(email, _collapse(_decode_words(display_name)).strip("\"'")))
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
    for match in _SIMPLE_MAILBOX.finditer(text):
        if match.start() != position:
            return None
        quoted = match["quoted"]
        display_name = (match["plain"] or "").strip() if quoted is None else quoted
        pairs.append((display_name, match["angle"] or match["bare"]))
        position = match.end()
    return pairs if position == len(text) else None


_ANGLE_ID = re.compile(r"<([^<>\s]+)>")


def _all_ids(value: str) -> tuple[str, ...]:
    ids = _ANGLE_ID.findall(value) or [token.strip("<>") for token in value.split()]
    return tuple(message_id for message_id in ids if message_id)


def _first_id(value: str) -> str | None:
    ids = _all_ids(value)
    return ids[0] if ids else None


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _sent_at(headers: _Headers) -> datetime:
    sent = _parse_date(_first(headers, "date"))
    if sent is not None:
        return sent
    received = [_parse_date(value.rpartition(";")[2]) for value in headers.get("received", [])]
    dates = [date for date in received if date is not None]
    if not dates:
        raise MailParseError("no usable Date or Received header")
    return max(dates)


_AUTO_REPLY_SUBJECTS = ("out of office", "automatic reply")


def _skip_reason(headers: _Headers, subject: str) -> str | None:
    auto_submitted = _first(headers, "auto-submitted").strip().lower()
    precedence = _first(headers, "precedence").strip().lower()
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


# --- MIME structure ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Content:
    text: str
    calendar_parts: tuple[bytes, ...]
    attachments: tuple[AttachmentInfo, ...]


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
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _part_text(part: Message) -> str:
    return _decode(_payload_bytes(part), part.get_content_charset())


def _filename(part: Message) -> str | None:
    name = part.get_filename()
    if name is None:
        return None
    return _collapse(_decode_words(name)) or None


_PartKind = Literal["plain", "html", "calendar", "attachment"]


def _part_kind(part: Message, content_type: str) -> _PartKind:
    if content_type == "text/calendar":
        return "calendar"
    if part.get_filename() is not None or part.get_content_disposition() == "attachment":
        return "attachment"
    if content_type == "text/html":
        return "html"
    if content_type == "text/plain" or content_type.startswith("multipart/"):
        return "plain"
    return "attachment"


def _attachment_info(part: Message, content_type: str) -> AttachmentInfo:
    is_message = content_type.startswith("message/")
    size = len(part.as_bytes()) if is_message else len(_payload_bytes(part))
    return AttachmentInfo(_filename(part), content_type, size)


def _read_parts(message: Message) -> _Content:
    """Body text (text/plain preferred over HTML), calendar parts and attachment metadata."""
    plain: str | None = None
    html: str | None = None
    calendar_parts: list[bytes] = []
    attachments: list[AttachmentInfo] = []
    for part, content_type in _leaf_parts(message):
        kind = _part_kind(part, content_type)
        if kind == "calendar":
            calendar = _payload_bytes(part)
            if calendar not in calendar_parts:
                calendar_parts.append(calendar)
        elif kind == "attachment":
            attachments.append(_attachment_info(part, content_type))
        elif kind == "html":
            if html is None:
                html = _part_text(part)
        elif plain is None or not plain.strip():
            plain = _part_text(part)
    if plain is not None and plain.strip():
        text = plain
    else:
        text = _html_to_text(html) if html is not None else ""
    return _Content(text, tuple(calendar_parts), tuple(attachments))


# --- HTML to text ------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "caption", "dd", "div", "dl", "dt"),
        *("fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead"),
        *("tfoot", "tr", "ul"),
    }
)
_HIDDEN_TAGS = frozenset({"head", "script", "style", "template", "title"})
_WHITESPACE = re.compile(r"[^\S\xa0]+")  # a no-break space is content: "<p>&nbsp;</p>" is a gap


class _HtmlToText(HTMLParser):
    """Collects visible text line by line; blockquote content gets a ``> `` prefix."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._line_quote_depth = 0
        self._quote_depth = 0
        self._hidden_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden_depth += 1
        elif tag == "br":
            self.end_line(keep_blank=True)
        elif tag in _BLOCK_TAGS:
            self.end_line()
            if tag == "blockquote":
                self._quote_depth += 1
            elif tag == "pre":
                self._pre_depth += 1
            elif tag == "li":
                self._add("- ")
        elif tag in ("td", "th"):
            self._add(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.end_line()
            if tag == "blockquote":
                self._quote_depth = max(0, self._quote_depth - 1)
            elif tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        if not self._pre_depth:
            self._add(_WHITESPACE.sub(" ", data))
            return
        first, *rest = data.split("\n")
        self._add(first)
        for line in rest:
            self.end_line(keep_blank=True)
            self._add(line)

    def _add(self, text: str) -> None:
        if text:
            self._line.append(text)
            self._line_quote_depth = max(self._line_quote_depth, self._quote_depth)

    def end_line(self, *, keep_blank: bool = False) -> None:
        """Finish the current line; empty lines are kept only where the markup asks for one."""
        raw = "".join(self._line)
        text = raw.replace("\xa0", " ").strip()
        if text or keep_blank or "\xa0" in raw:
            self.lines.append("> " * self._line_quote_depth + text)
        self._line = []
        self._line_quote_depth = self._quote_depth


def _html_to_text(html: str) -> str:
    r"""Visible text of an HTML body; quoted (blockquote) lines are prefixed with ``> ``.

    >>> _html_to_text("<p>Hi&nbsp;Bob,</p><p>&nbsp;</p><div>See <b>you</b><br>soon</div>"
    ...              "<blockquote>old</blockquote><style>p {}</style>")
    'Hi Bob,\n\nSee you\nsoon\n> old'
    """
    parser = _HtmlToText()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError:  # html.parser rejects some malformed declarations; keep what was read
        pass
    parser.end_line()
    return "\n".join(parser.lines)


# --- quoted replies and signatures -------------------------------------------------------------

_ATTRIBUTION_END = re.compile(
    r"(?:wrote|writes|schrieb|a écrit|escribió|ha scritto|schreef|escreveu|skrev)\s*:$", re.I
)
_ATTRIBUTION_START = re.compile(r"^(?:On|Le|Am|El|Il|Op|Em|Den|På)\s", re.I)
_REPLY_HEADER_FROM = re.compile(r"^\*?(?:From|Von|De)\s?:\*?\s", re.I)
_REPLY_HEADER_SENT = re.compile(r"^\*?(?:Sent|Date|Gesendet|Envoyé|Enviado)\s?:\*?\s", re.I)
_ORIGINAL_MESSAGE = re.compile(
    r"^-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine)\s*-{2,}$", re.I
)
_MOBILE_FOOTER = re.compile(
    r"^(?:Sent from my \w+|Sent from \w+ for \w+|Get Outlook for \w+)", re.I
)
_RULE = re.compile(r"^[-_=*~]{4,}$")
_SIGN_OFF = re.compile(
    r"^(?:best|best regards|best wishes|kind regards|warm regards|warmest regards|regards|"
    r"many thanks|thanks|thanks again|thanks so much|thank you|cheers|sincerely|yours sincerely|"
    r"yours truly|all the best|talk soon|thx|br|cordialement|bien à vous|"
    r"mit freundlichen grüßen|viele grüße|beste grüße|saludos|un saludo|atentamente|"
    r"met vriendelijke groet|groeten)\s*[,.!]*$",
    re.I,
)
_MAX_SIGNATURE_LINES = 12
_MAX_SIGNATURE_LINE_LENGTH = 100


def _split_body(text: str) -> tuple[str, list[str]]:
    """The author's own text, and the signature lines cut from its end."""
    lines = [line.rstrip().replace("\xa0", " ") for line in text.splitlines()]
    body_lines, signature_lines = _split_signature(_strip_quoted(lines))
    return _join_paragraphs(body_lines), signature_lines


def _strip_quoted(lines: list[str]) -> list[str]:
    """Drop ``>`` lines and their attribution; cut at the first top-posted quoted message.

    >>> _strip_quoted(["Sounds good.", "", "On Tue, 2 Jan 2024, Bob <b@x.com> wrote:",
    ...                "> Monday?", "", "Jane"])
    ['Sounds good.', '', '', 'Jane']
    >>> _strip_quoted(["Yes.", "________", "From: Bob", "Sent: Monday", "Subject: x", "hi"])
    ['Yes.']
    """
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith(">"):
            index += 1
            continue
        span = _attribution_span(lines, index)
        if span and _quote_follows(lines, index + span):
            index += span
            continue
        if (span and _is_dated_attribution(lines[index : index + span])) or _starts_quote(
            lines, index
        ):
            break
        kept.append(lines[index])
        index += 1
    while kept and (not kept[-1].strip() or _RULE.match(kept[-1].strip())):
        kept.pop()
    return kept


def _attribution_span(lines: Sequence[str], index: int) -> int:
    """How many lines (1 or 2, as clients wrap it) an "X wrote:" line takes; 0 if none."""
    line = lines[index].strip()
    if line.endswith(":") and _ATTRIBUTION_END.search(line):
        return 1
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    if following.endswith(":") and _ATTRIBUTION_START.match(line):
        return 2 if _ATTRIBUTION_END.search(f"{line} {following}") else 0
    return 0


def _quote_follows(lines: Sequence[str], index: int) -> bool:
    for line in lines[index:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return False


def _is_dated_attribution(lines: Sequence[str]) -> bool:
    text = " ".join(line.strip() for line in lines)
    return bool(_ATTRIBUTION_START.match(text)) and any(char.isdigit() for char in text)


def _starts_quote(lines: Sequence[str], index: int) -> bool:
    """Whether an Outlook-style quoted message or a mobile footer starts at this line."""
    line = lines[index].strip()
    if _ORIGINAL_MESSAGE.match(line) or _MOBILE_FOOTER.match(line):
        return True
    return bool(_REPLY_HEADER_FROM.match(line)) and any(
        _REPLY_HEADER_SENT.match(following.strip()) for following in lines[index + 1 : index + 5]
    )


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split at a ``-- `` line, else after a sign-off followed only by short lines.

    >>> _split_signature(["Deal.", "", "Thanks,", "Jane", "CEO"])
    (['Deal.', '', 'Thanks,'], ['Jane', 'CEO'])
    >>> _split_signature(["Thanks,", "I will send the deck tomorrow.", "Jane"])
    (['Thanks,', 'I will send the deck tomorrow.', 'Jane'], [])
    """
    for index, line in enumerate(lines):
        if line.rstrip() == "--":
            return lines[:index], lines[index + 1 :]
    trailing = 0
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].strip()
        if _SIGN_OFF.match(line):
            tail = lines[index + 1 :]
            if all(_is_signature_line(candidate.strip()) for candidate in tail):
                return lines[: index + 1], tail
            break
        trailing += bool(line)
        if trailing > _MAX_SIGNATURE_LINES:
            break
    return lines, []


def _is_signature_line(line: str) -> bool:
    if len(line) > _MAX_SIGNATURE_LINE_LENGTH or line.endswith(("?", "!")):
        return False
    is_sentence = line.endswith(".") and len(line.split()) >= 4
    return not is_sentence or bool(_ORGANISATION.search(line))


def _join_paragraphs(lines: list[str]) -> str:
    """Join lines, keeping at most one blank line between paragraphs."""
    kept: list[str] = []
    for line in lines:
        if line.strip() or (kept and kept[-1]):
            kept.append(line if line.strip() else "")
    return "\n".join(kept).strip()


# --- signature fields --------------------------------------------------------------------------

_TITLE_WORDS = re.compile(
    r"\b(?:CEO|CTO|CFO|COO|CMO|CRO|CIO|CISO|VP|SVP|EVP|AVP|Vice President|Director|Head of|"
    r"Manager|Engineer|Analyst|Founder|Co-Founder|Owner|President|Partner|Lead|Specialist|"
    r"Coordinator|Consultant|Account Executive|Sales Executive|Chief \w+ Officer|Representative|"
    r"Architect|Associate)\b",
    re.I,
)
_ORGANISATION = re.compile(
    r"(?<![\w.])(?:Inc|Incorporated|Ltd|Limited|LLC|LLP|GmbH|AG|Corp|Corporation|Co\.|S\.A|SA|"
    r"PLC|Pty|B\.V|BV|N\.V|NV|SAS|SARL|S\.r\.l|S\.p\.A|SpA|KK|K\.K|Oy|AB|ApS|A/S)\.?(?![\w-])"
)
# Separators between name, title and company on one line: dashes, pipes, bullets, "at".
_SEGMENT_SEPARATOR = re.compile(
    r"\s+[-\u2013\u2014|\u2022\u00b7]\s+|\s*[|\u2022\u00b7]\s*|\s+(?:at|@)\s+"
)
_CONTACT = re.compile(
    r"https?://|www\.|\S@\S|\b[\w-]+\.(?:com|net|org|io|ai|co|de|uk|fr|jp)\b|"
    r"[+(]?\d[\d\s().-]{6,}\d",
    re.I,
)
_STREET = re.compile(
    r"^\d+\s+\w|\b(?:Street|St\.|Avenue|Ave\.?|Road|Rd\.|Suite|Blvd|Floor|Straße|Strasse)\b", re.I
)
_FAX_LABEL = re.compile(r"\b(?:fax|f)\b\W*$", re.I)
_MIN_PHONE_DIGITS = 7
_MAX_COMPANY_WORDS = 6


def _parse_signature(lines: list[str], region: str) -> Signature:
    """Phone, title and company from signature lines.

    >>> _parse_signature(["Jane Doe", "Head of Sales | Globex", "T: +44 20 7946 0958"], "US")
    Signature(phone='+442079460958', title='Head of Sales', company='Globex')
    """
    cleaned = [_collapse(line) for line in lines if line.strip()][: _MAX_SIGNATURE_LINES + 3]
    title, company = _title_and_company(cleaned)
    return Signature(phone=_find_phone(cleaned, region), title=title, company=company)


def _find_phone(lines: list[str], region: str) -> str | None:
    for line in lines:
        if sum(char.isdigit() for char in line) < _MIN_PHONE_DIGITS:
            continue
        for match in phonenumbers.PhoneNumberMatcher(line, region):
            if not _FAX_LABEL.search(line[: match.start]):
                return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _title_and_company(lines: list[str]) -> tuple[str | None, str | None]:
    organisation = _organisation_name(lines)
    for index, line in enumerate(lines):
        segments = _segments(line)
        for position, segment in enumerate(segments):
            if _TITLE_WORDS.search(segment) and not _CONTACT.search(segment):
                following = [*segments[position + 1 :], *lines[index + 1 : index + 2]]
                if organisation is None and following and _could_be_company(following[0]):
                    organisation = following[0]
                return _title_before_organisation(segment), organisation
    return None, organisation


def _title_before_organisation(segment: str) -> str:
    """Drop a trailing ", Acme Inc." from a title segment."""
    pieces = segment.split(", ")
    for position, piece in enumerate(pieces[1:], start=1):
        if _ORGANISATION.search(piece):
            return ", ".join(pieces[:position])
    return segment


def _organisation_name(lines: list[str]) -> str | None:
    """The first name carrying a legal-form suffix, cut right after that suffix."""
    for line in lines:
        for segment in _segments(line):
            if _CONTACT.search(segment):
                continue
            pieces = segment.split(", ")
            for position, piece in enumerate(pieces):
                match = _ORGANISATION.search(piece)
                if match is None:
                    continue
                if match.start() == 0 and position > 0:  # "Acme, Inc."
                    return f"{pieces[position - 1]}, {piece[: match.end()]}"
                return piece[: match.end()]
    return None


def _segments(line: str) -> list[str]:
    return _SEGMENT_SEPARATOR.split(line)


def _could_be_company(text: str) -> bool:
    return (
        0 < len(text.split()) <= _MAX_COMPANY_WORDS
        and not _CONTACT.search(text)
        and not _STREET.search(text)
        and not _TITLE_WORDS.search(text)
        and not _SIGN_OFF.match(text)
    )


def _normalise_domains(domains: frozenset[str]) -> frozenset[str]:
    return frozenset(domain.strip().strip(".").lower() for domain in domains)


def _is_internal(address: Address, domains: frozenset[str]) -> bool:
    """Whether the address's domain is one of the domains or a subdomain of one."""
    labels = address.email.rpartition("@")[2].strip(".").split(".")
    return any(".".join(labels[start:]) in domains for start in range(len(labels)))
