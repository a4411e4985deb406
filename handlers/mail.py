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

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.policy import compat32
from typing import Literal

from handlers.mail_body import split_body
from handlers.mail_headers import (
    Headers,
    all_ids,
    date_sent,
    first,
    first_id,
    mailboxes,
    read_headers,
    reason_to_skip,
)
from handlers.mail_mime import read_parts
from handlers.mail_signature import signature_fields
from handlers.mail_text import collapse, decode_words


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
    domains = normalise_domains(internal_domains)
    if not is_internal(parsed.sender, domains):
        return "inbound"
    recipients = parsed.to + parsed.cc
    if any(not is_internal(address, domains) for address in recipients):
        return "outbound"
    return "internal"


def external_participants(
    parsed: ParsedEmail, internal_domains: frozenset[str]
) -> tuple[Address, ...]:
    """Everyone outside the internal domains, sender first, without duplicates."""
    domains = normalise_domains(internal_domains)
    seen: set[str] = set()
    external: list[Address] = []
    for address in (parsed.sender, *parsed.to, *parsed.cc):
        if address.email not in seen and not is_internal(address, domains):
            seen.add(address.email)
            external.append(address)
    return tuple(external)


# --- top-level parsing -------------------------------------------------------------------------


def _parse(raw: bytes, region: str) -> ParsedEmail:
    """Parse non-empty bytes; the work behind parse_email."""
    message = message_from_bytes(raw.lstrip(), policy=compat32)
    headers = read_headers(message)
    if not any(name in headers for name in ("message-id", "date", "from")):
        raise MailParseError("not an email: no Message-ID, Date or From header")
    senders = _addresses(headers, "from") or _addresses(headers, "sender")
    if not senders:
        raise MailParseError("no sender address in From header")
    message_id = first_id(first(headers, "message-id"))
    own_id = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    in_reply_to = first_id(first(headers, "in-reply-to"))
    references = all_ids(first(headers, "references"))
    subject = collapse(decode_words(first(headers, "subject")))
    sent = date_sent(headers)
    if sent is None:
        raise MailParseError("no usable Date or Received header")
    content = read_parts(message)
    body, signature_lines = split_body(content.text)
    phone, title, company = signature_fields(signature_lines, region)
    return ParsedEmail(
        message_id=own_id,
        sent_at=sent,
        sender=senders[0],
        to=_addresses(headers, "to"),
        cc=_addresses(headers, "cc"),
        subject=subject,
        in_reply_to=in_reply_to,
        references=references,
        thread_key=references[0] if references else in_reply_to or own_id,
        body=body,
        signature=Signature(phone=phone, title=title, company=company),
        skip_reason=reason_to_skip(headers, subject),
        calendar_parts=content.calendar_parts,
        attachments=tuple(AttachmentInfo(*attachment) for attachment in content.attachments),
    )


def _addresses(headers: Headers, name: str) -> tuple[Address, ...]:
    """The mailboxes of an address header, deduplicated."""
    return tuple(Address(email, display_name) for email, display_name in mailboxes(headers, name))


# --- internal domains --------------------------------------------------------------------------


def normalise_domains(domains: frozenset[str]) -> frozenset[str]:
    """Domains lower-cased, without surrounding dots or spaces."""
    return frozenset(domain.strip().strip(".").lower() for domain in domains)


def is_internal(address: Address, domains: frozenset[str]) -> bool:
    """Whether the address's domain is one of the domains or a subdomain of one."""
    labels = address.email.rpartition("@")[2].strip(".").split(".")
    return any(".".join(labels[start:]) in domains for start in range(len(labels)))
