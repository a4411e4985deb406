"""Two `nudge serve` processes on one PostgreSQL database share the work, then one is killed.

Webhooks go to either worker (a sender's retry may reach the other one), a Slack event
and its retry reach different workers, and after SIGKILL of one worker the other
processes what the dead one had accepted and takes over the learner.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml

from handlers.signing import generic_headers
from tests.conftest import INTERNAL_DOMAIN, REP, ROOT, SIGNING_SECRET
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.slack_signing import JSON_CONTENT_TYPE, event_body, signed_headers
from tests.test_serve import NUDGE, _free_port, _wait_healthy

WEBHOOK_SECRET = "two-workers-webhook-secret"
EVENTS = 160


def _config(folder: Path) -> Path:
    """app.yaml with one rep and the company's domain."""
    document = yaml.safe_load((ROOT / "app.yaml").read_text())
    document["crm"]["team"] = [REP.model_dump()]
    document["crm"]["internal_domains"] = [INTERNAL_DOMAIN]
    path = folder / "app.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


class Worker:
    """One `nudge serve` process and its base URL."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"


@pytest.fixture
async def workers(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[FakeSlackApi, list[Worker]]]:
    """Two serving processes on the test's PostgreSQL database, with a fake Slack."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers share one database only on PostgreSQL")
    if not NUDGE.exists():
        pytest.skip("the nudge console script is not installed next to this interpreter")
    config = _config(tmp_path)
    async with FakeSlackApi() as fake:
        env = os.environ | {
            "NUDGE_DATABASE_URL": database_url, "NUDGE_CONFIG": str(config),
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.base_url, "NUDGE_PSEUDONYM_SALT": "two-workers-salt-81c2",
            "NUDGE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }  # fmt: skip
        started: list[Worker] = []
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(2):
                    port = _free_port()
                    process = await asyncio.create_subprocess_exec(
                        str(NUDGE), "serve", "--host", "127.0.0.1", "--port", str(port),
                        env=env, stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )  # fmt: skip
                    started.append(Worker(process, port))
                    await _wait_healthy(session, f"{started[-1].base}/healthz")
            yield fake, started
        finally:
            for worker in started:
                if worker.process.returncode is None:
                    worker.process.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(worker.process.wait(), timeout=30)


def _page_view(n: int) -> bytes:
    event = {
        "id": f"pv-{n}", "type": "page_view", "occurred_at": "2026-11-20T14:00:00Z",
        "email": f"visitor{n % 40}@prospect{n % 8}.example",
        "url": "https://acme-analytics.example/pricing", "dwell_s": 40,
    }  # fmt: skip
    return json.dumps({"events": [event]}).encode()


async def _send(
    session: aiohttp.ClientSession, worker: Worker, body: bytes, *, retry: bool = False
) -> int:
    """POST a signed body; a retry is signed anew (with its own timestamp), as senders do."""
    headers = generic_headers(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 30 * retry)
    headers["Content-Type"] = "application/json"
    async with session.post(f"{worker.base}/webhooks/marketing", data=body, headers=headers) as r:
        return r.status


async def _slack_event(session: aiohttp.ClientSession, worker: Worker, event_id: str) -> int:
    event: dict[str, Any] = {
        "type": "reaction_added", "user": REP.slack_id, "reaction": "fire",
        "item": {"type": "message", "channel": "D0NOPE", "ts": "1795000000.000001"},
        "event_ts": "1795000001.000001",
    }  # fmt: skip
    body = event_body(event, event_id=event_id)
    headers = signed_headers(body, SIGNING_SECRET, content_type=JSON_CONTENT_TYPE)
    async with session.post(f"{worker.base}/slack/events", data=body, headers=headers) as r:
        return r.status


async def _settled(database_url: str, query: str, *args: Any, expect: int) -> int:
    """Poll a count until it equals ``expect`` (or 60 s pass); returns the last value."""
    connection = await asyncpg.connect(database_url)
    try:
        for _ in range(600):
            value = int(await connection.fetchval(query, *args))
            if value == expect:
                return value
            await asyncio.sleep(0.1)
        return value
    finally:
        await connection.close()


async def _raced(database_url: str) -> int:
    """Bodies the inboxes set aside as unstorable (a clash with the other worker, say)."""
    connection = await asyncpg.connect(database_url)
    try:
        query = "SELECT count(*) FROM rawitem WHERE error IS NOT NULL"
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


PENDING = "SELECT count(*) FROM rawitem WHERE processed_at IS NULL"
ACTIVITIES = "SELECT count(*) FROM activity"
RECEIPTS = "SELECT count(*) FROM slackeventreceipt WHERE event_id = $1"


@pytest.mark.slow
async def test_two_workers_share_the_work_and_survive_a_kill(
    database_url: str, workers: tuple[FakeSlackApi, list[Worker]]
) -> None:
    fake, (first, second) = workers
    async with aiohttp.ClientSession() as session:
        originals = [_send(session, (first, second)[n % 2], _page_view(n)) for n in range(EVENTS)]
        retries = [
            _send(session, (second, first)[n % 2], _page_view(n), retry=True)
            for n in range(0, EVENTS, 4)
        ]
        statuses = await asyncio.gather(*originals, *retries)
        taken = dict(enumerate(statuses[:EVENTS]))
        for n, status in zip(range(0, EVENTS, 4), statuses[EVENTS:], strict=True):
            taken[n] = min(taken[n], status)  # either delivery may be the one taken
        assert set(taken.values()) == {200}
        assert await _settled(database_url, PENDING, expect=0) == 0
        assert await _raced(database_url) == 0, "a body clashing with the other worker was lost"
        assert await _settled(database_url, ACTIVITIES, expect=EVENTS) == EVENTS

        retried = [_slack_event(session, w, "Ev0TWOWORKERS") for w in (first, second, first)]
        assert await asyncio.gather(*retried) == [200, 200, 200]
        assert await _settled(database_url, RECEIPTS, "Ev0TWOWORKERS", expect=1) == 1

        later = [_send(session, first, _page_view(EVENTS + n)) for n in range(40)]
        statuses = await asyncio.gather(*later)
        first.process.send_signal(signal.SIGKILL)
        await first.process.wait()
        accepted = EVENTS + statuses.count(200)
        assert accepted == EVENTS + 40
        assert await _slack_event(session, second, "Ev0AFTERKILL") == 200
        assert await _settled(database_url, PENDING, expect=0) == 0
        assert await _raced(database_url) == 0
        assert await _settled(database_url, ACTIVITIES, expect=accepted) == accepted
        assert await _settled(database_url, RECEIPTS, "Ev0AFTERKILL", expect=1) == 1
        health = await _wait_healthy(session, f"{second.base}/healthz")
        assert health["ok"] is True
    posted = [call.params.get("metadata") for call in fake.calls_to("chat.postMessage")]
    ids = [json.loads(m)["event_payload"]["nudge_id"] if isinstance(m, str) else
           m["event_payload"]["nudge_id"] for m in posted if m]  # fmt: skip
    assert len(ids) == len(set(ids)), "a nudge was posted twice"
