"""Broken MIME, odd charsets and random bytes through the mail reader (``email_inputs``).

Every message must end as an activity, a skip or a quarantine row; nothing may escape as
an exception. Whether what the reader hands on is then stored on both databases is
checked end to end in test_capture_property.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import example, given

from handlers.mail_capture import email_inputs
from models.services.inputs import ActivityIn, QuarantineIn, SkippedIn
from tests.property.checks import assert_kinds, assert_readable_reason
from tests.property.strategies import INTERNAL, REP_EMAIL, any_mail, good_mail

DOMAINS = frozenset({INTERNAL})


def read(raw: bytes) -> list[ActivityIn | SkippedIn | QuarantineIn]:
    return email_inputs(raw, internal_domains=DOMAINS)


def subject_mail(subject: bytes, *, body: bytes = b"Hi", charset: bytes = b"utf-8") -> bytes:
    """An otherwise clean inbound message with this Subject and body."""
    return (
        b"Message-ID: <s1@globex.example>\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
        b"From: Ana Silva <ana@globex.example>\r\nTo: " + REP_EMAIL.encode() + b"\r\n"
        b"Subject: " + subject + b"\r\nContent-Type: text/plain; charset=" + charset + b"\r\n\r\n"
        + body + b"\r\n"
    )  # fmt: skip


LONG_ID = b"<" + b"x" * 600 + b"@globex.example>"
# Readable mail whose text or id a database refuses as it is (see test_capture_property).
SURROGATE_SUBJECT = subject_mail(b"=?utf-8?q?Re:?= \\ud800")
LONG_MESSAGE_ID = subject_mail(b"Hi").replace(b"<s1@globex.example>", LONG_ID)


@given(raw=any_mail())
@example(raw=b"")
@example(raw=b"\x00" * 10)
@example(raw=good_mail("ok@globex.example", "ana@globex.example"))
@example(raw=SURROGATE_SUBJECT)
@example(raw=LONG_MESSAGE_ID)
def test_every_message_becomes_an_activity_a_skip_or_a_quarantine_row(raw: bytes) -> None:
    items = read(raw)

    assert_kinds(items)
    first = items[0]
    if isinstance(first, QuarantineIn):  # unreadable mail: one row holding all of it
        assert items == [first]
        assert first.raw == raw
        assert first.source == "email"
    for item in items:
        if isinstance(item, QuarantineIn):
            assert isinstance(item.raw, bytes)
            assert_readable_reason(item)
        elif isinstance(item, SkippedIn):
            assert item.external_id
            assert_readable_reason(item)
        else:
            assert item.external_id
            assert item.occurred_at.tzinfo is not None
            assert item.people, "an activity is about someone outside"


# --- regression tests for the bugs the properties found -------------------------------------


def only_activity(raw: bytes) -> ActivityIn:
    (item,) = read(raw)
    assert isinstance(item, ActivityIn), item
    return item


@pytest.mark.parametrize(
    ("subject", "expected"),
    [(b"=?utf-8?q?Re:?= \\ud800", "Re: \\ud800"), (b"=?utf-8?q?Re:?= \\u00e9", "Re: \\u00e9")],
    ids=["surrogate-escape", "latin-escape"],
)
def test_backslashes_next_to_an_encoded_word_are_text(subject: bytes, expected: str) -> None:
    assert only_activity(subject_mail(subject)).subject == expected


@pytest.mark.parametrize(
    ("charset", "body"),
    [(b"utf-7", b"+2AA-"), (b"unicode_escape", b"a\\ud800b")],
    ids=["utf-7-surrogate", "unicode-escape"],
)
def test_a_declared_charset_never_yields_invalid_unicode(charset: bytes, body: bytes) -> None:
    body_text = only_activity(subject_mail(b"Hi", body=body, charset=charset)).body or ""
    body_text.encode("utf-8")  # raises UnicodeEncodeError on a lone surrogate


def test_a_long_address_header_is_read_in_linear_time() -> None:
    """40,000 characters in To: must parse in well under a second, not 13 s (run apart)."""
    code = (
        "from handlers.mail import parse_email\n"
        "parse_email(b'From: a@globex.example\\r\\nDate: Tue, 2 Jan 2024 10:00:00 +0000\\r\\n'"
        " b'To: ' + b'a' * 40_000 + b'\\r\\n\\r\\nhi')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=3)  # noqa: S603
