"""P3: memory of a serving process over 100,000 contacts and 1,000,000 activities.

``python -m bench.memory [--contacts N] [--activities N]`` writes the data set-based
(:mod:`bench.datagen`) into SQLite, starts the HTTP server on it in its own process, sends
it signed webhook traffic until processed, and reads the process's resident memory (RSS)
and its peak (VmHWM) from /proc. Repeated over several server starts on the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

from bench.datagen import database_size, generate_database
from bench.ingest import NOW, ROOT, _event, _pending, _post_all, _settings, serve
from bench.results import record, summary
from bench.workers import wait_healthy
from bot.config import load_config
from bot.demo import demo_config
from bot.sample_data import generate

RUNS = 3
TRAFFIC = 1000
GOAL_MB = 300


def _memory_mb(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of a process, in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss": fields["VmRSS"], "peak": fields["VmHWM"]}


async def server_run(folder: Path, port: int) -> dict[str, float]:
    """Start a server on the database in ``folder``, load it with traffic, read its memory."""
    stop = folder / "stop"
    stop.unlink(missing_ok=True)
    server = get_context("spawn").Process(target=serve, args=(folder, port, stop))
    server.start()
    assert server.pid is not None
    await wait_healthy(f"http://127.0.0.1:{port}/healthz")
    idle = _memory_mb(server.pid)
    statuses = await _post_all(
        f"http://127.0.0.1:{port}/webhooks/marketing", [_event(n) for n in range(TRAFFIC)], 16
    )
    if statuses.count(200) != TRAFFIC:
        raise RuntimeError(f"not every event was accepted: {sorted(set(statuses))}")
    while await _pending(folder / "bench.db"):  # noqa: ASYNC110 - another process writes it
        await asyncio.sleep(0.1)
    loaded = _memory_mb(server.pid)
    stop.touch()
    server.join(60)
    return {"idle_rss": idle["rss"], "rss": loaded["rss"], "peak_rss": loaded["peak"]}


async def main(contacts: int, activities: int) -> None:
    """Generate once, measure RUNS server starts, record the figures beside the goal."""
    sample = generate(seed=11, now=NOW, contacts=50)
    config = demo_config(load_config(ROOT / "app.yaml"), sample)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        rows = await generate_database(
            _settings(folder), config, contacts=contacts, activities=activities
        )
        generated_s = time.perf_counter() - started
        size_mb = database_size(folder / "bench.db") / 1e6
        runs = [await server_run(folder, 19_500 + os.getpid() % 400 + n) for n in range(RUNS)]
    record(
        "P3",
        {
            "rss_mb_after_traffic": summary([r["rss"] for r in runs]) | {"goal": GOAL_MB},
            "peak_rss_mb": summary([r["peak_rss"] for r in runs]) | {"goal": GOAL_MB},
            "idle_rss_mb": summary([r["idle_rss"] for r in runs]),
            "data": rows | {"database_mb": round(size_mb, 1), "generated_s": round(generated_s, 1)},
            "setup": f"SQLite; data written set-based by bench.datagen; `serve` process started "
            f"{RUNS} times on it, each sent {TRAFFIC} signed page-view webhooks (16 concurrent) "
            "and measured from /proc once they were processed",
        },
    )
    print(json.dumps(json.loads((ROOT / "bench" / "results.json").read_text())["P3"], indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    options = parser.parse_args()
    asyncio.run(main(options.contacts, options.activities))
