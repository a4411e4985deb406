"""Build realistic RFC 5322 messages for tests (a rep's thread with a lead)."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime

LEAD = ("Ana Silva", "ana.silva@globex.example")
LEAD_SIGNATURE = "Ana Silva\nVP of Sales\nGlobex Inc.\n+1 415 555 0134"


def message(
    *,
    message_id: str,
    sender: tuple[str, str],
    to: tuple[str, str],
    sent_at: datetime,
    subject: str,
    body: str,
    in_reply_to: str | None = None,
    extra_headers: str = "",
) -> bytes:
    """One plain-text message with the headers real clients write."""
    reply = (
        f"In-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\n" if in_reply_to else ""
    )
    text = (
        f"Message-ID: <{message_id}>\r\n"
        f"Date: {format_datetime(sent_at)}\r\n"
        f'From: "{sender[0]}" <{sender[1]}>\r\n'
        f'To: "{to[0]}" <{to[1]}>\r\n'
        f"Subject: {subject}\r\n{reply}{extra_headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}\r\n"
    )
    return text.encode()


def eager_thread(
    rep: tuple[str, str],
    *,
    start: datetime,
    rounds: int = 4,
    every: timedelta = timedelta(hours=12),
) -> list[bytes]:
    """A lead who answers every email within the hour and asks for pricing."""
    mails: list[bytes] = []
    previous: str | None = None
    for n in range(rounds):
        sent = start + every * n
        out_id = f"out-{n}@acme-analytics.example"
        subject = "Re: Acme Insights for Globex" if n else "Acme Insights for Globex"
        mails.append(message(message_id=out_id, sender=rep, to=LEAD, sent_at=sent,
                             subject=subject, body=f"Hi Ana, following up ({n}).",
                             in_reply_to=previous))  # fmt: skip
        in_id = f"in-{n}@globex.example"
        answer = (
            "Thanks, this is exactly what we need. Can you send pricing for 40 seats?\n\n"
            f"Best,\n{LEAD_SIGNATURE}\n\nOn {format_datetime(sent)}, {rep[0]} wrote:\n> Hi Ana"
        )
        mails.append(message(message_id=in_id, sender=LEAD, to=rep,
                             sent_at=sent + timedelta(minutes=25),
                             subject="Re: Acme Insights for Globex", body=answer,
                             in_reply_to=out_id))  # fmt: skip
        previous = in_id
    return mails


def distinct_messages(
    n: int, rep: tuple[str, str], *, start: datetime, tag: str = "lead"
) -> list[tuple[str, bytes]]:
    """``n`` inbound emails from ``n`` different leads, as (Message-ID, bytes) pairs."""
    mails = []
    for i in range(n):
        message_id = f"{tag}-{i}@prospect{i % 25}.example"
        lead = (f"Lead {tag.title()} {i}", f"lead{i}.{tag}@prospect{i % 25}.example")
        raw = message(message_id=message_id, sender=lead, to=rep,
                      sent_at=start + timedelta(minutes=i), subject=f"Question {i} about pricing",
                      body=f"Hello, could you send a quote for {10 + i} seats?")  # fmt: skip
        mails.append((message_id, raw))
    return mails
