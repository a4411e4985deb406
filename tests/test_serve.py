"""`nudge serve` as a real process: migrates, binds to Slack, answers /healthz and /slack/events."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ROOT, SIGNING_SECRET
from tests.fakes.slack_api import BOT_TOKEN, TEAM_ID, FakeSlackApi
from tests.slack_signing import FORM_CONTENT_TYPE, command_body, signed_headers

NUDGE = Path(sys.executable).with_name("nudge")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_healthy(session: aiohttp.ClientSession, url: str) -> dict[str, object]:
    for _ in range(150):
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    body: dict[str, object] = await response.json()
                    return body
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered 200")


@pytest.mark.slow
async def test_serve_answers_health_and_slack_then_stops_on_sigterm(tmp_path: Path) -> None:
    if not NUDGE.exists():
        pytest.skip("the nudge console script is not installed next to this interpreter")
    port = _free_port()
    async with FakeSlackApi() as fake:
        env = os.environ | {
            "NUDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
            "NUDGE_CONFIG": str(ROOT / "app.yaml"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.base_url,
            "NUDGE_PSEUDONYM_SALT": "serve-test-salt-3f9a",
        }
        process = await asyncio.create_subprocess_exec(
            str(NUDGE), "serve", "--host", "127.0.0.1", "--port", str(port),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            async with aiohttp.ClientSession() as session:
                health = await _wait_healthy(session, f"http://127.0.0.1:{port}/healthz")
                assert health["ok"] is True
                assert fake.calls_to("auth.test")
                body = command_body("/crm", "help", user_id="U0REP01",
                                    response_url=fake.response_url())  # fmt: skip
                headers = signed_headers(body, SIGNING_SECRET, content_type=FORM_CONTENT_TYPE)
                url = f"http://127.0.0.1:{port}/slack/events"
                async with session.post(url, data=body, headers=headers) as response:
                    assert response.status == 200
                answer = (await fake.wait_for("response_url"))[0]
                assert "/crm health" in str(answer.params["text"])
                forged = signed_headers(body, "not-the-secret", content_type=FORM_CONTENT_TYPE)
                async with session.post(url, data=body, headers=forged) as response:
                    assert response.status == 401
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
        assert process.returncode == 0, output.decode()[-2000:]
    with sqlite3.connect(tmp_path / "serve.db") as database:
        bound = database.execute("SELECT slack_team_id FROM workspace").fetchall()
    assert bound == [(TEAM_ID,)]
