"""Logs never carry secrets or personal data."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from bot.logs import AccessLogger, configure_logging, redact

NEEDLES = ("ana.silva", "globex", "555", "xoxb", "ndg_", "s3cr3t", "Ana", "Silva")
PROBE = (
    "Unhandled request from ana.silva@globex.example, phone +1 415 555 0134, "
    "token xoxb-1-2, api key ndg_Zx9-kQ, header Authorization: Bearer s3cr3t"
)


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    "name", ["slack_bolt.App", "slack_sdk.web", "aiohttp.access", "apscheduler", "sqlalchemy"]
)
def test_library_loggers_are_redacted(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    logging.getLogger(name).warning("%s; reply to %s", PROBE, '"Ana Silva" <ana@globex.example>')
    err = capsys.readouterr().err
    (line,) = _json_lines(err)
    assert (line["logger"], line["level"]) == (name, "warning")
    assert line["event"].startswith("Unhandled request from [email], phone [phone]")
    assert not [needle for needle in NEEDLES if needle in err]


def test_library_tracebacks_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    try:
        raise ValueError(PROBE)
    except ValueError:
        logging.getLogger("apscheduler.executors").exception("job failed")
    err = capsys.readouterr().err
    (line,) = _json_lines(err)
    assert "ValueError: Unhandled request from [email]" in line["exception"]
    assert not [needle for needle in NEEDLES if needle in err]


def test_a_record_that_cannot_be_formatted_leaks_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() == "bot.logs"]  # not pytest's
    logging.getLogger("slack_bolt.App").warning("%d from %s", "ana.silva@globex.example")
    err = capsys.readouterr().err
    assert "slack_bolt.App could not be written" in err
    assert "ana.silva" not in err


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "Ana Silva"),
        ("first_name", "Ana"),
        ("contact", {"id": 7, "name": "Ana Silva", "email": "ana.silva@globex.example"}),
        ("sender", b"Ana Silva"),
        ("to", ["Ana Silva", "Bruno Costa"]),
        ("recipient", ("Ana Silva",)),
        ("details", {"person": "Ana Silva", "notes": [{"full_name": "Ana Silva"}]}),
    ],
)
def test_values_of_name_keys_are_redacted(
    key: str, value: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json=True)
    structlog.get_logger("t").info("contact.touched", **{key: value})
    out = capsys.readouterr().out
    (line,) = _json_lines(out)
    assert "[name]" in json.dumps(line[key])
    assert not [needle for needle in NEEDLES if needle in out]


def test_name_keys_keep_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    structlog.get_logger("t").info("digest.sent", recipient=4, contact={"id": 7, "name": "Ana"})
    (line,) = _json_lines(capsys.readouterr().out)
    assert (line["recipient"], line["contact"]) == (4, {"id": 7, "name": "[name]"})


@pytest.mark.parametrize(
    "text",
    [
        'From: "Ana Silva" <ana.silva@globex.example>',
        "From: Ana Silva <ana.silva@globex.example>",
        "cc Ana da Silva <ana.silva@globex.example>, Bruno <b@globex.example>",
        "From: =?UTF-8?Q?Ana_Silva?= <ana.silva@globex.example>",
        "From: Ána Silva <ana.silva@globex.example>",
    ],
)
def test_display_names_are_redacted(text: str) -> None:
    cleaned = redact(text)
    assert "[name] <[email]>" in cleaned
    assert not [needle for needle in ("Ana", "Ána", "Silva", "Bruno") if needle in cleaned]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("sent with bearer eyJhbGciOi.eyJzdWIi.c2ln", "eyJhbGciOi"),
        ("socket mode xapp-1-A0-123-abc, user xoxp-9-8-7", "-123-abc"),
        ("refreshed xoxe.xoxp-1-Mi0yLTE", "Mi0yLTE"),
        ("X-Slack-Signature: v0=" + "a1" * 32, "a1a1"),
        ("X-Twilio-Signature=Zm9vYmFy", "Zm9vYmFy"),
        ("GET https://AC123:f00dcafe@api.twilio.com/2010-04-01", "f00dcafe"),
        ("postgresql+asyncpg://nudge:hunter2@db/nudge", "hunter2"),
        ("{'signing_secret': 'abc123'}", "abc123"),
        ("/oauth?code=1&access_token=abc123&x=1", "abc123"),
        ("posting to https://hooks.slack.com/services/T0/B0/XyZ", "XyZ"),
    ],
)
def test_secrets_are_redacted(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "[secret]" in cleaned


def test_malformed_values_never_break_logging(capsys: pytest.CaptureFixture[str]) -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError

    looped: list[object] = []
    looped.append(looped)
    configure_logging("INFO", json=True)
    structlog.get_logger("t").info(
        "odd", broken=Broken(), raw=b"\xffana.silva@globex.example", looped=looped
    )
    (line,) = _json_lines(capsys.readouterr().out)
    assert line["broken"] == "[unloggable]"
    assert line["raw"] == "\ufffd[email]"
    assert "[...]" in json.dumps(line["looped"])


def test_console_output_and_levels_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING")
    structlog.get_logger("t").info("quiet")
    logging.getLogger("slack_bolt.App").info("quiet")
    structlog.get_logger("t").warning("loud", phone="+1 415 555 0134")
    logging.getLogger("slack_bolt.App").warning("loud from ana.silva@globex.example")
    printed = capsys.readouterr()
    assert "quiet" not in printed.out + printed.err
    assert re.fullmatch(r"\S+Z \[warning\s*\] loud\s+phone=\[phone\]", printed.out.strip())
    assert re.fullmatch(r"\S+Z \[warning\s*\] loud from \[email\]\s+\[slack_bolt\.App\]",
                        printed.err.strip())  # fmt: skip


def test_configuring_again_replaces_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    configure_logging("INFO", json=True)
    logging.getLogger("aiohttp.access").warning("once")
    assert [line["event"] for line in _json_lines(capsys.readouterr().err)] == ["once"]


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
    assert (event["who"], event["token"], event["count"]) == ("[name]", "[secret]", 3)


async def test_request_lines_leave_out_the_query_string(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)

    async def contacts(_request: web.Request) -> web.Response:
        return web.json_response({"data": []})

    app = web.Application()
    app.router.add_get("/api/v1/contacts", contacts)
    runner = web.AppRunner(app, access_log_class=AccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with aiohttp.ClientSession() as http:
            url = f"{site.name}/api/v1/contacts"
            async with http.get(url, params={"q": "ana.silva@globex.example"}) as response:
                assert response.status == 200
    finally:
        await runner.cleanup()
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    (request,) = [line for line in lines if line["event"] == "http.request"]
    assert (request["method"], request["path"], request["status"]) == (
        "GET",
        "/api/v1/contacts",
        200,
    )
    assert "ana.silva" not in json.dumps(lines)
