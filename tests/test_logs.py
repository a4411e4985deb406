"""Logs never carry secrets or personal data."""

from __future__ import annotations

import json

import aiohttp
import pytest
import structlog
from aiohttp import web

from bot.logs import AccessLogger, configure_logging


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
