"""Attachments over the limit are noted on the activity and not stored with the message."""

from __future__ import annotations

import base64
from datetime import timedelta

from handlers.mail_capture import email_input
from models.services.inputs import ActivityIn
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.mail_factory import LEAD


def _with_attachment(size: int) -> bytes:
    payload = base64.encodebytes(b"%PDF" + b"\0" * size).decode()
    return (
        "Message-ID: <deck@globex.example>\r\nDate: Fri, 20 Nov 2026 10:00:00 +0000\r\n"
        f'From: "{LEAD[0]}" <{LEAD[1]}>\r\nTo: "{REP.name}" <{REP.email}>\r\n'
        "Subject: Our requirements\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
        "--b1\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="rfp.pdf"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{payload}\r\n--b1--\r\n"
    ).encode()


def test_a_20_mb_attachment_is_noted_and_not_stored() -> None:
    raw = _with_attachment(20 * 1024 * 1024)
    item = email_input(
        raw, internal_domains=frozenset({INTERNAL_DOMAIN}), max_attachment_bytes=10 * 1024 * 1024
    )
    assert isinstance(item, ActivityIn)
    assert item.raw is not None
    assert len(item.raw) < 10_000 < len(raw)
    assert b"not stored: over the attachment limit" in item.raw
    (noted,) = item.facts["attachments_not_stored"]
    assert (noted["filename"], noted["content_type"]) == ("rfp.pdf", "application/pdf")
    assert noted["size"] > 20 * 1024 * 1024
    assert item.body is not None
    assert "See attached." in item.body
    assert NOW - timedelta(days=1) < item.occurred_at


def test_a_small_attachment_is_kept_whole() -> None:
    raw = _with_attachment(1000)
    item = email_input(
        raw, internal_domains=frozenset({INTERNAL_DOMAIN}), max_attachment_bytes=10 * 1024 * 1024
    )
    assert isinstance(item, ActivityIn)
    assert item.raw == raw
    assert "attachments_not_stored" not in item.facts
