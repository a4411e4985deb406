"""P6: one and two `serve` workers on one PostgreSQL database, under the same webhook load.

``python -m bench.workers`` creates a fresh database per run on the server named by
``NUDGE_BENCH_POSTGRES_URL`` (default: the local test server), starts N worker processes
on it, sends signed page-view webhooks round-robin to them, and measures events accepted
and processed per second, per worker, and the database's load over the run
(``pg_stat_database``: commits, rows written and read per event). Figures go under ``P6``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.ingest import NOW, ROOT, SECRET, _event, _settings
from bench.results import record, summary
from bench.serving import serve_until
from bot.app import create_bolt_app, create_web_client
from bot.config import load_config
from bot.demo import demo_config
from bot.runtime import open_runtime
from bot.sample_data import generate
from handlers.signing import generic_headers

RUNS = 2
EVENTS = 3000
CONCURRENCY = 32
BOLT_SECRET = "bench"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
STATS = "SELECT xact_commit, tup_inserted, tup_updated, tup_fetched FROM pg_stat_database "
STATS += "WHERE datname = $1"


async def _serve(url: str, port: int, stop_file: Path, slack: tuple[str, str] | None) -> None:
    sample = generate(seed=11, now=NOW, contacts=50)
    config = demo_config(load_config(ROOT / "app.yaml"), sample)
    settings = _settings(stop_file.parent).model_copy(update={"database_url": url})
    api_url, token = slack or (settings.slack_api_url, "xoxb-bench")
    settings = settings.model_copy(update={"slack_api_url": api_url})
    runtime = await open_runtime(settings, config, clock=lambda: NOW)
    client = create_web_client(token, runtime.settings.api_base_url)
    bolt = create_bolt_app(runtime, client=client, signing_secret=BOLT_SECRET)
    await serve_until(runtime, bolt, port, stop_file)


def serve(url: str, port: int, stop_file: Path, slack: tuple[str, str] | None = None) -> None:
    """One worker on database ``url``, in its own process, until ``stop_file`` appears.

    ``slack`` is the Web API's base URL and bot token, when the worker must reach one.
    """
    asyncio.run(_serve(url, port, stop_file, slack))


async def wait_healthy(url: str) -> None:
    """Wait (up to a minute) until a server answers 200 at ``url``."""
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server under test did not start")


async def _post_round_robin(urls: list[str], bodies: list[bytes]) -> list[int]:
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)
    statuses: list[int] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n, body = queue.get_nowait()
            headers = generic_headers(body, SECRET, timestamp=int(time.time()))
            headers["Content-Type"] = "application/json"
            async with session.post(urls[n % len(urls)], data=body, headers=headers) as response:
                statuses.append(response.status)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(CONCURRENCY)))
    return statuses


async def _stats(connection: asyncpg.Connection, name: str) -> list[int]:
    row = await connection.fetchrow(STATS, name)
    return [int(value) for value in row] if row else [0, 0, 0, 0]


async def run(workers: int, admin_url: str) -> dict[str, float]:
    """One measured run with ``workers`` processes on a fresh database."""
    name = f"nudge_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    with tempfile.TemporaryDirectory() as tmp:
        stop = Path(tmp) / "stop"
        ports = [19_900 + os.getpid() % 50 * 2 + n for n in range(workers)]
        processes = [get_context("spawn").Process(target=serve, args=(url, p, stop)) for p in ports]
        try:
            for process, port in zip(processes, ports, strict=True):
                process.start()  # one after another: the first start migrates the database
                await wait_healthy(f"http://127.0.0.1:{port}/healthz")
            database = await asyncpg.connect(url)
            before = await _stats(admin, name)
            started = time.perf_counter()
            statuses = await _post_round_robin(
                [f"http://127.0.0.1:{p}/webhooks/marketing" for p in ports],
                [_event(n) for n in range(EVENTS)],
            )
            accepted = time.perf_counter() - started
            query = "SELECT count(*) FROM rawitem WHERE processed_at IS NULL"
            while await database.fetchval(query):  # noqa: ASYNC110 - the workers write it
                await asyncio.sleep(0.05)
            processed = time.perf_counter() - started
            await database.close()
            await asyncio.sleep(0.6)  # pg_stat_database is reported with a short delay
            after = await _stats(admin, name)
        finally:
            stop.touch()
            for process in processes:
                process.join(60)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    if statuses.count(200) != EVENTS:
        raise RuntimeError(f"not every event was accepted: {sorted(set(statuses))}")
    commits, inserted, updated, fetched = (b - a for a, b in zip(before, after, strict=True))
    return {
        "accepted_per_s": EVENTS / accepted,
        "processed_per_s": EVENTS / processed,
        "processed_per_s_per_worker": EVENTS / processed / workers,
        "db_commits_per_event": commits / EVENTS,
        "db_rows_written_per_event": (inserted + updated) / EVENTS,
        "db_rows_read_per_event": fetched / EVENTS,
        "db_commits_per_s": commits / processed,
    }


async def main() -> None:
    """RUNS runs each with one and with two workers; medians and p99 per figure."""
    admin_url = os.environ.get("NUDGE_BENCH_POSTGRES_URL", ADMIN_URL)
    figures: dict[str, Any] = {}
    for workers in (1, 2):
        runs = [await run(workers, admin_url) for _ in range(RUNS)]
        figures[f"{workers}_worker{'s' if workers > 1 else ''}"] = {
            key: {k: round(v, 2) for k, v in summary([r[key] for r in runs]).items()}
            for key in runs[0]
        }
    record(
        "P6",
        figures
        | {
            "setup": f"PostgreSQL on this machine; {EVENTS} signed single-event page views "
            f"round-robin over loopback HTTP to the workers, {CONCURRENCY} concurrent clients; "
            f"a fresh database per run; {RUNS} runs per worker count; load generator, workers "
            "and database share the same 2 cores",
        },
    )
    print(json.dumps(json.loads((ROOT / "bench" / "results.json").read_text())["P6"], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
