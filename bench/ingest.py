"""P1: bulk mail import (emails/s parsed, resolved, stored and scored) and webhooks over HTTP.

Run with ``python -m bench.ingest``; figures go to bench/results.json beside the goals
(≥ 2,000 emails/s; ≥ 1,000 webhook events/s).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import aiohttp
from pydantic import SecretStr
from sqlmodel import col, func, select

from bench.results import record, summary
from bench.serving import serve_until
from bot.app import create_bolt_app, create_web_client
from bot.config import load_config
from bot.demo import demo_config
from bot.heap import freeze_startup_objects
from bot.imports import import_mail
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.sample_data import generate
from bot.settings import Settings, to_async_url
from handlers.calls import TWILIO_CALLS
from handlers.mail_files import find_mail
from handlers.reading import Readers
from handlers.signing import generic_headers
from models.activity import RawItem
from models.db import create_engine, session_factory, unit_of_work
from tests.fakes.twilio import sid, signed_post, status_callback

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SECRET = "bench-webhook-secret"
RUNS = 3
WEBHOOK_EVENTS = 6000
TWILIO_TOKEN = "bench-twilio-token"


def _settings(folder: Path) -> Settings:
    return Settings.model_construct(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        config_path=ROOT / "app.yaml",
        webhook_secret=SecretStr(SECRET),
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        pseudonym_salt=SecretStr("bench-salt"),
        public_url="http://127.0.0.1",
        slack_api_url="http://127.0.0.1:9/api/",
    )


async def _runtime(folder: Path, contacts: int) -> tuple[Runtime, list[bytes]]:
    sample = generate(seed=11, now=NOW, contacts=contacts)
    config = demo_config(load_config(ROOT / "app.yaml"), sample)
    runtime = await open_runtime(_settings(folder), config, clock=lambda: NOW)
    return runtime, list(sample.emails)


async def mail_run(contacts: int) -> float:
    """One import of the sample's mail into a fresh database; emails per second.

    Run it in a process of its own through bench.mail_import, as ``nudge import-mail`` runs:
    the reading processes start before the database opens, and the clock starts once it
    is open.
    """
    with tempfile.TemporaryDirectory() as tmp, Readers() as readers:
        folder = Path(tmp)
        runtime, emails = await _runtime(folder, contacts)  # the readers start meanwhile
        inbox = folder / "mail"
        inbox.mkdir()
        for n, raw in enumerate(emails):
            (inbox / f"{n:06d}.eml").write_bytes(raw)
        freeze_startup_objects()  # as ``nudge import-mail`` does
        started = time.perf_counter()
        await import_mail(runtime, find_mail([inbox]), readers=readers)
        elapsed = time.perf_counter() - started
        await close_runtime(runtime)
    return len(emails) / elapsed


def _mail_in_own_process(contacts: int) -> float:
    command = [sys.executable, "-m", "bench.mail_import", str(contacts)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
    return float(done.stdout.split()[-1])


def _event(n: int) -> bytes:
    event = {
        "id": f"pv-{n}",
        "type": "page_view",
        "occurred_at": "2026-11-20T14:00:00Z",
        "email": f"visitor{n % 500}@prospect{n % 50}.example",
        "url": "https://acme-analytics.example/pricing",
        "dwell_s": 40,
    }
    return json.dumps({"events": [event]}).encode()


Request = tuple[str, bytes, dict[str, str]]
"""A webhook request as its sender makes it: path, body, signed headers."""
MARKETING_KINDS = ("page_view", "form_fill", "email_open", "email_click")


def _generic(path: str, body: bytes) -> Request:
    headers = generic_headers(body, SECRET, timestamp=int(time.time()))
    return path, body, headers | {"Content-Type": "application/json"}


def _marketing(n: int) -> Request:
    kind = MARKETING_KINDS[n % len(MARKETING_KINDS)]
    event = {"id": f"ev-{n}", "type": kind, "occurred_at": "2026-11-20T14:00:00Z",
             "email": f"visitor{n % 500}@prospect{n % 50}.example",
             "url": "https://acme-analytics.example/pricing", "dwell_s": 40}  # fmt: skip
    return _generic("/webhooks/marketing", json.dumps({"events": [event]}).encode())


def _twilio_call(n: int) -> Request:
    params = status_callback(
        sid("CA", n), "completed", caller=f"+1415{2000000 + n % 500:07d}",
        called="+14155550100", at=NOW - timedelta(minutes=5), duration_s=60 + n % 600,
    )  # fmt: skip
    body, headers = signed_post(f"http://127.0.0.1{TWILIO_CALLS.path}", params, TWILIO_TOKEN)
    return TWILIO_CALLS.path, body.encode(), headers


def _generic_call(n: int) -> Request:
    call = {"id": f"pbx-{n}", "direction": "outbound", "from": "+14155550100",
            "to": f"+1415{2000000 + n % 500:07d}", "started_at": "2026-11-20T14:00:00Z",
            "duration_s": 30 + n % 300}  # fmt: skip
    return _generic("/webhooks/calls", json.dumps(call).encode())


def mixed_request(n: int) -> Request:
    """The n-th request of a mixed stream: four in six marketing events (page views, form
    fills, email opens and clicks), one a Twilio call callback, one a generic call."""
    if n % 6 == 4:
        return _twilio_call(n)
    if n % 6 == 5:
        return _generic_call(n)
    return _marketing(n)


async def _send_all(base: str, requests: list[Request], concurrency: int) -> list[int]:
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    statuses: list[int] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            path, body, headers = queue.get_nowait()
            async with session.post(base + path, data=body, headers=headers) as response:
                statuses.append(response.status)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return statuses


async def _post_all(url: str, bodies: list[bytes], concurrency: int) -> list[int]:
    """Signed generic bodies to one endpoint (``url`` is the server's base and the path)."""
    base, _sep, path = url.partition("/webhooks/")
    requests = [_generic(f"/webhooks/{path}", body) for body in bodies]
    return await _send_all(base, requests, concurrency)


async def _pending(database: Path) -> int:
    engine = create_engine(to_async_url(f"sqlite:///{database}"))
    try:
        async with unit_of_work(session_factory(engine)) as session:
            query = select(func.count()).where(col(RawItem.processed_at).is_(None))
            return int((await session.exec(query)).one())
    finally:
        await engine.dispose()


async def _serve(folder: Path, port: int, stop_file: Path) -> None:
    runtime, _emails = await _runtime(folder, 50)
    bolt = create_bolt_app(
        runtime,
        client=create_web_client("xoxb-bench", runtime.settings.api_base_url),
        signing_secret="bench",
    )
    await serve_until(runtime, bolt, port, stop_file)


def serve(folder: Path, port: int, stop_file: Path) -> None:
    """The server under test, in its own process (so the load generator does not share its loop)."""
    asyncio.run(_serve(folder, port, stop_file))


async def _wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.post(url, data=b"{}") as response:
                    if response.status in (401, 503):
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise RuntimeError("bench server did not start")


async def webhook_run(events: int, concurrency: int = 32) -> dict[str, float]:
    """A mixed stream of signed webhooks over HTTP: accepted per second, processed per second."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = 18000 + os.getpid() % 1000
        server = get_context("spawn").Process(target=serve, args=(folder, port, folder / "stop"))
        server.start()
        base = f"http://127.0.0.1:{port}"
        await _wait_up(base + "/webhooks/marketing")
        requests = [mixed_request(n) for n in range(events)]
        started = time.perf_counter()
        statuses = await _send_all(base, requests, concurrency)
        accepted = time.perf_counter() - started
        while await _pending(folder / "bench.db"):  # noqa: ASYNC110 - another process writes it
            await asyncio.sleep(0.05)
        processed = time.perf_counter() - started
        (folder / "stop").touch()
        server.join(30)
    if statuses.count(200) != events:
        raise RuntimeError(f"not every event was accepted: {sorted(set(statuses))}")
    return {"accepted_per_s": events / accepted, "processed_per_s": events / processed}


async def main() -> None:
    """Repeat each measurement and record medians and p99."""
    mail = [_mail_in_own_process(500) for _ in range(RUNS)]
    hooks = [await webhook_run(WEBHOOK_EVENTS) for _ in range(RUNS)]
    record(
        "P1",
        {
            "emails_per_s": summary(mail) | {"goal": 2000},
            "webhook_events_accepted_per_s": summary([h["accepted_per_s"] for h in hooks])
            | {"goal": 1000},
            "webhook_events_processed_per_s": summary([h["processed_per_s"] for h in hooks]),
            "setup": "sample company, 500 contacts (~3,400 emails) per mail run, reading "
            "processes started while the database opens; per webhook run 6,000 signed requests "
            "over loopback HTTP from 32 concurrent clients in another process: marketing "
            "events (page views, form fills, email opens and clicks) 4 in 6, Twilio call "
            "callbacks 1 in 6, generic calls 1 in 6; SQLite",
        },
    )
    print(json.dumps(json.loads((ROOT / "bench" / "results.json").read_text())["P1"], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
