"""Mail as Nudge input: one message's bytes become an activity, a skip, or a quarantine row.

Calendar invites inside the message become meetings as well (see :mod:`handlers.calendar`).
"""

from __future__ import annotations

import email
from email.policy import compat32

from handlers.calendar import meetings_from_ics
from handlers.mail import MailParseError, ParsedEmail, direction, external_participants, parse_email
from models.services.inputs import ActivityIn, CaptureInput, PersonIn, QuarantineIn, SkippedIn

SOURCE = "email"


def _rep_email(parsed: ParsedEmail, internal_domains: frozenset[str], way: str) -> str | None:
    if way == "outbound":
        return parsed.sender.email
    for address in (*parsed.to, *parsed.cc):
        domain = address.email.rpartition("@")[2]
        if any(domain == d or domain.endswith("." + d) for d in internal_domains):
            return address.email
    return None


def _people(parsed: ParsedEmail, internal_domains: frozenset[str]) -> tuple[PersonIn, ...]:
    people = []
    for address in external_participants(parsed, internal_domains):
        if address.email == parsed.sender.email:
            sig = parsed.signature
            people.append(PersonIn(address.email, address.name, sig.phone, sig.title, sig.company))
        else:
            people.append(PersonIn(address.email, address.name))
    return tuple(people)


def email_input(
    raw: bytes,
    *,
    internal_domains: frozenset[str],
    default_region: str = "US",
    max_attachment_bytes: int | None = None,
) -> CaptureInput:
    """Turn one RFC 5322 message into what the ingestion path takes, without its invites."""
    parsed = _parse(raw, default_region)
    if isinstance(parsed, QuarantineIn):
        return parsed
    return _email_item(raw, parsed, internal_domains, max_attachment_bytes)


def email_inputs(
    raw: bytes,
    *,
    internal_domains: frozenset[str],
    default_region: str = "US",
    max_attachment_bytes: int | None = None,
) -> list[CaptureInput]:
    """The message's own input, then a meeting input for every event of its invites.

    A meeting stands on its own: an invite sent inside the team, or mail skipped as
    automated, still captures a meeting that has outside attendees.
    """
    parsed = _parse(raw, default_region)
    if isinstance(parsed, QuarantineIn):
        return [parsed]
    items: list[CaptureInput] = [_email_item(raw, parsed, internal_domains, max_attachment_bytes)]
    for part in parsed.calendar_parts:
        items.extend(meetings_from_ics(part, internal_domains=internal_domains))
    return items


def _parse(raw: bytes, default_region: str) -> ParsedEmail | QuarantineIn:
    try:
        return parse_email(raw, default_region=default_region)
    except MailParseError as exc:
        return QuarantineIn(source=SOURCE, reason=f"unreadable email: {exc}", raw=raw)


def without_large_parts(raw: bytes, limit: int) -> bytes:
    """The message with every attachment over ``limit`` bytes replaced by a short note."""
    message = email.message_from_bytes(raw, policy=compat32)
    changed = False
    for part in message.walk():
        if part.is_multipart() or not (part.get_filename() or part.get_content_disposition()):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and len(payload) > limit:
            del part["Content-Transfer-Encoding"]
            part["Content-Transfer-Encoding"] = "7bit"
            part.set_payload(f"[{len(payload)} bytes not stored: over the attachment limit]\n")
            changed = True
    return message.as_bytes() if changed else raw


def _email_item(
    raw: bytes, parsed: ParsedEmail, internal_domains: frozenset[str], limit: int | None
) -> CaptureInput:
    if parsed.skip_reason:
        return SkippedIn(SOURCE, parsed.message_id, parsed.skip_reason)
    way = direction(parsed, internal_domains)
    people = _people(parsed, internal_domains)
    large = [a for a in parsed.attachments if limit is not None and a.size > limit]
    if way == "internal" or not people:
        return SkippedIn(SOURCE, parsed.message_id, "internal")
    return ActivityIn(
        source=SOURCE,
        external_id=parsed.message_id,
        kind="email",
        occurred_at=parsed.sent_at,
        people=people,
        direction=way,
        rep_email=_rep_email(parsed, internal_domains, way),
        subject=parsed.subject,
        body=parsed.body,
        thread_key=parsed.thread_key,
        facts={
            "attachments": len(parsed.attachments),
            "recipients": len(parsed.to) + len(parsed.cc),
            **(
                {
                    "attachments_not_stored": [
                        {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                        for a in large
                    ]
                }
                if large
                else {}
            ),
        },
        raw=without_large_parts(raw, limit) if large and limit is not None else raw,
        content_type="message/rfc822",
    )
