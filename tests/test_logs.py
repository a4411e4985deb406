"""Logs never carry secrets or personal data."""

from __future__ import annotations

import json

import pytest
import structlog

from bot.logs import configure_logging


def test_structured_logs_redact_emails_phones_and_tokens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    structlog.get_logger("t").info(
        "contact.seen",
        who="Ana <ana.silva@globex.example>",
        phone="+1 415 555 0134",
        token="xoxb-111-222-secret",
        note="call (415) 555-0134 today, bot token xoxb-9-9",
        count=3,
    )
    line = capsys.readouterr().out.strip().splitlines()[-1]
    event = json.loads(line)
    assert "ana.silva" not in line
    assert "555" not in line
    assert "xoxb" not in line
    assert event["token"] == "[secret]"
    assert event["count"] == 3
