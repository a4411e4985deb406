"""P2: latency of one event, one reaction and one Slack acknowledgement.

``python -m bench.latency`` measures, over repeated runs on a sample company in SQLite:

- event → stored, scored and nudge queued (``capture`` of one page view, in-process);
- reaction → model updated and persisted (``apply_feedback``, under the learner lease);
- Slack ack: a signed ``reaction_added`` event over loopback HTTP to a serving process,
  from the request leaving to the 200 arriving.

Figures go to bench/results.json under ``P2`` in milliseconds, beside the goals.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from sqlmodel import col, select

from bench.ingest import NOW, ROOT, _runtime
from bench.results import record, summary
from bench.workers import BOLT_SECRET, serve, wait_healthy
from bot.config import AppConfig
from bot.flows import apply_feedback, capture, capture_all_in
from bot.outbox import OutboxPoster
from bot.runtime import Runtime, close_runtime
from bot.terminal import TerminalTransport
from models.db import unit_of_work
from models.nudge import Nudge
from models.services.feedback import ReactionIn
from models.services.inputs import ActivityIn, PersonIn
from models.workspace import User
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.slack_signing import JSON_CONTENT_TYPE, signed_headers

RUNS = 3
EVENTS = 400
REACTIONS = 200
ACKS = 300
CONTACTS = 150


def _uncapped(runtime: Runtime) -> None:
    """Lift the hourly learning cap per person: the benchmark times learning, not the guard."""
    crm = runtime.config.crm
    feedback = crm.feedback.model_copy(update={"max_weight_per_user_hour": 1e9})
    crm = crm.model_copy(update={"feedback": feedback})
    runtime.config = AppConfig(slack=runtime.config.slack, crm=crm)


TOUCHES: tuple[tuple[str, str | None, dict[str, Any]], ...] = (
    ("email", "outbound", {}),
    ("email", "inbound", {}),
    ("web", None, {"page": "pricing", "dwell_s": 300}),
    ("meeting", None, {}),
)


async def _company(folder: Path) -> tuple[Runtime, list[str]]:
    """A sample team with CONTACTS prospects and a few touches each, captured in batches."""
    runtime, _emails = await _runtime(folder, 50)
    rep = runtime.config.crm.team[0].email
    people = [f"person{n}@prospect{n % 40}.example" for n in range(CONTACTS)]
    items = [
        ActivityIn(
            source="seed",
            external_id=f"seed-{p}-{t}",
            kind=kind,
            direction=direction,
            occurred_at=NOW - timedelta(hours=90 - 20 * t),
            rep_email=rep,
            facts=facts,
            people=(PersonIn(email=email, title="VP of Sales"),),
        )
        for p, email in enumerate(people)
        for t, (kind, direction, facts) in enumerate(TOUCHES)
    ]
    for start in range(0, len(items), 100):
        async with unit_of_work(runtime.sessions) as session:
            await capture_all_in(session, runtime, items[start : start + 100])
    return runtime, people


def _page_view(n: int, people: list[str], rep: str) -> ActivityIn:
    return ActivityIn(
        source="bench", external_id=f"pv-{n}", kind="web", direction=None,
        occurred_at=NOW - timedelta(minutes=n % 600), rep_email=rep,
        facts={"page": "pricing", "dwell_s": 120},
        people=(PersonIn(email=people[n % len(people)]),),
    )  # fmt: skip


async def event_run(folder: Path) -> list[float]:
    """Milliseconds for each of EVENTS page views, captured one by one."""
    runtime, people = await _company(folder)
    rep = runtime.config.crm.team[0].email
    samples = []
    for n in range(EVENTS):
        item = _page_view(n, people, rep)
        started = time.perf_counter()
        await capture(runtime, item)
        samples.append((time.perf_counter() - started) * 1000)
    await close_runtime(runtime)
    return samples


async def _reactions(runtime: Runtime) -> list[ReactionIn]:
    """Add-then-remove pairs of reactions by each nudge's recipient on the sent lead nudges."""
    poster = OutboxPoster(runtime.sessions, TerminalTransport(Console(quiet=True)), pace_s=0)
    await poster.run_once(now=NOW)
    async with runtime.sessions() as session:
        query = (
            select(Nudge, User.slack_user_id)
            .join(User, col(User.id) == col(Nudge.recipient_id))
            .where(Nudge.cause == "hot_lead", Nudge.state == "sent")
        )
        sent = list((await session.exec(query)).all())
    if not sent:
        raise RuntimeError("the sample produced no hot-lead nudge to react to")
    signals = []
    for n in range(REACTIONS):
        nudge, user = sent[(n // 2) % len(sent)]
        assert nudge.channel_id is not None
        assert nudge.message_ts is not None
        assert user is not None
        emoji = ("fire", "ice_cube")[(n // (2 * len(sent))) % 2]
        signals.append(ReactionIn(nudge.channel_id, nudge.message_ts, user, emoji, n % 2 == 1))
    return signals


async def reaction_run(folder: Path) -> list[float]:
    """Milliseconds from a reaction to the model updated, logged and committed."""
    runtime, _people = await _company(folder)
    _uncapped(runtime)
    samples = []
    for signal in await _reactions(runtime):
        started = time.perf_counter()
        result = await apply_feedback(runtime, signal)
        samples.append((time.perf_counter() - started) * 1000)
        if result is None:
            raise RuntimeError("a reaction was not learned; the benchmark would time nothing")
    await close_runtime(runtime)
    return samples


def _reaction_event(n: int) -> str:
    event: dict[str, Any] = {
        "type": "reaction_added", "user": "U0BENCH", "reaction": "fire",
        "item": {"type": "message", "channel": "D0BENCH", "ts": f"1795000000.{n:06d}"},
        "event_ts": f"1795000001.{n:06d}",
    }  # fmt: skip
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0BENCH",
            "api_app_id": "A0BENCH",
            "event": event,
            "event_id": f"Ev{n:08d}",
            "event_time": 1795000001,
        }
    )


async def ack_run(port: int) -> list[float]:
    """Milliseconds from sending a signed event to Slack's 200, one request at a time.

    The server talks to a stand-in of the Slack Web API (auth.test at start-up).
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'bench.db'}"
        async with FakeSlackApi() as slack:
            args = (url, port, folder / "stop", (slack.base_url, BOT_TOKEN))
            server = get_context("spawn").Process(target=serve, args=args)
            server.start()
            try:
                return await _acks(f"http://127.0.0.1:{port}")
            finally:
                (folder / "stop").touch()
                await asyncio.to_thread(server.join, 60)


async def _acks(base: str) -> list[float]:
    await wait_healthy(f"{base}/healthz")
    samples = []
    async with aiohttp.ClientSession() as session:
        for n in range(ACKS):
            body = _reaction_event(n)
            headers = signed_headers(body, BOLT_SECRET, content_type=JSON_CONTENT_TYPE)
            started = time.perf_counter()
            async with session.post(f"{base}/slack/events", data=body, headers=headers) as answer:
                await answer.read()
            samples.append((time.perf_counter() - started) * 1000)
            if answer.status != 200:
                raise RuntimeError(f"Slack event answered {answer.status}")
    return samples


def _figures(samples: list[float], goals: dict[str, float]) -> dict[str, Any]:
    figures: dict[str, Any] = summary(samples)
    ordered = sorted(samples)
    figures["p50"] = ordered[len(ordered) // 2]
    return {key: round(value, 3) for key, value in figures.items()} | {"goal_ms": goals}


async def main() -> None:
    """Repeat each measurement RUNS times; record p50 and p99 of all samples."""
    events: list[float] = []
    reactions: list[float] = []
    acks: list[float] = []
    for run in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            events += await event_run(Path(tmp))
        with tempfile.TemporaryDirectory() as tmp:
            reactions += await reaction_run(Path(tmp))
        acks += await ack_run(19_000 + run)
    record(
        "P2",
        {
            "event_stored_scored_queued_ms": _figures(events, {"p50": 5, "p99": 50}),
            "reaction_learned_persisted_ms": _figures(reactions, {"p99": 20}),
            "slack_ack_ms": _figures(acks, {"p99": 100}),
            "setup": f"SQLite; a team with {CONTACTS} prospects, four touches each; "
            f"{EVENTS} page views captured one by one, {REACTIONS} reactions (added and taken "
            f"back) learned one by one, {ACKS} signed reaction events over loopback HTTP to a "
            f"serving process, one at a time; {RUNS} runs pooled; 'median' and 'p99' in ms",
        },
    )
    print(json.dumps(json.loads((ROOT / "bench" / "results.json").read_text())["P2"], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
