"""Drift (C3.4): a vertical that suddenly converts far more is detected and rises in the ranking.

Simulated outcomes go through the real learning path (``record_update`` inside
``Scorer.update()`` and a unit of work), one batch per simulated day, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sqlmodel import col, select

from bot.runtime import Runtime
from learning.features import Features
from learning.pipeline import LeadModel
from learning.store import load_live, record_update, replay
from models.db import unit_of_work
from models.learning import DriftEvent, LearningLogEntry

INDUSTRIES = ("saas", "retail", "fintech", "health")
SURGE = "health"
SHARES = (1.0, 1.0, 1.0, 2.0)
PER_DAY, SWITCH_DAY, DAYS, SEED = 60, 40, 54, 2
PROBES: tuple[Features, ...] = tuple(
    {"industry": industry, "meetings_30d": m, "pricing_visits_30d": p, "emails_in_30d": 2.0}
    for industry in INDUSTRIES
    for m in (0.0, 1.0, 2.0)
    for p in (0.0, 3.0)
)


def simulated_lead(rng: random.Random) -> Features:
    """Industry among four values and a few engagement numbers; nothing personal."""
    return {
        "industry": rng.choices(INDUSTRIES, weights=SHARES)[0],
        "meetings_30d": float(rng.randint(0, 3)),
        "pricing_visits_30d": float(rng.randint(0, 5)),
        "emails_in_30d": float(rng.randint(0, 6)),
    }


def converts(rng: random.Random, lead: Features, *, switched: bool) -> bool:
    """The fixed generative rule: engagement helps; the surge industry flips from cold to hot."""
    engagement = (
        0.9 * float(lead["meetings_30d"])
        + 0.35 * float(lead["pricing_visits_30d"])
        + 0.1 * float(lead["emails_in_30d"])
    )
    z = -3.0 + 1.5 * engagement
    if lead["industry"] == SURGE:
        z += 4.0 if switched else -4.0
    return rng.random() < 1 / (1 + math.exp(-z))


@dataclass(frozen=True, slots=True)
class Standing:
    """Where the surge industry's probe leads stand among all probe leads."""

    mean_rank: float
    surge_score: float
    other_score: float


def standing(model: LeadModel) -> Standing:
    """Mean rank (1 = best) of the surge probes, and mean scores of surge and other probes."""
    scores = [model.probability(probe) for probe in PROBES]
    order = sorted(range(len(PROBES)), key=lambda i: (-scores[i], i))
    rank = {i: n + 1 for n, i in enumerate(order)}
    surge = [i for i, probe in enumerate(PROBES) if probe["industry"] == SURGE]
    other = [i for i in range(len(PROBES)) if i not in surge]
    return Standing(
        sum(rank[i] for i in surge) / len(surge),
        sum(scores[i] for i in surge) / len(surge),
        sum(scores[i] for i in other) / len(other),
    )


@dataclass(frozen=True, slots=True)
class Simulation:
    """Standings before the switch and 14 days after it; drift events by detection day."""

    before: Standing
    after: Standing
    detection_days: list[int]


async def simulate(runtime: Runtime) -> Simulation:
    """Learn PER_DAY outcomes a day for DAYS days, the surge industry switching on SWITCH_DAY."""
    rng = random.Random(SEED)
    detection_days: list[int] = []
    before = standing(runtime.scorer.model)
    for day in range(DAYS):
        async with runtime.scorer.update() as pending, unit_of_work(runtime.sessions) as session:
            for n in range(PER_DAY):
                lead = simulated_lead(rng)
                await record_update(
                    session=session, pending=pending, workspace_id=runtime.workspace_id,
                    subject=f"sim:{day}:{n}", actor="sim", source="outcome", features=lead,
                    label=converts(rng, lead, switched=day >= SWITCH_DAY), weight=1.0,
                    snapshot_every=500,
                )  # fmt: skip
                if pending.model.drift.detections > len(detection_days):
                    detection_days.append(day)
        if day == SWITCH_DAY - 1:
            before = standing(runtime.scorer.model)
    return Simulation(before, standing(runtime.scorer.model), detection_days)


async def drift_events(runtime: Runtime) -> list[DriftEvent]:
    """The stored drift events in order."""
    async with unit_of_work(runtime.sessions) as session:
        query = select(DriftEvent).order_by(col(DriftEvent.id))
        return list((await session.exec(query)).all())


async def test_a_vertical_that_converts_faster_is_detected_and_rises(runtime: Runtime) -> None:
    """A drift event after the switch (none before), and the surge leads rise within 14 days."""
    result = await simulate(runtime)
    events = await drift_events(runtime)
    switch_version = SWITCH_DAY * PER_DAY
    assert result.detection_days, "ADWIN found no drift after the switch"
    assert all(SWITCH_DAY <= day <= SWITCH_DAY + 7 for day in result.detection_days)
    assert len(events) == len(result.detection_days)
    assert all(event.model_version > switch_version for event in events)
    first = events[0].detail
    assert first["error_after"] > first["error_before"]
    assert f"industry={SURGE}" in first["changed"]
    assert len(first["changed"]) <= 3
    assert result.after.mean_rank <= result.before.mean_rank - 8
    assert result.before.surge_score < result.before.other_score
    assert result.after.surge_score > result.after.other_score


async def test_replay_after_drift_equals_live(runtime: Runtime) -> None:
    """Replay and snapshot + tail rebuild the live model, detector state included."""
    await simulate(runtime)
    live = runtime.scorer
    events = await drift_events(runtime)
    assert events
    async with unit_of_work(runtime.sessions) as session:
        rebuilt = [
            await replay(session=session, workspace_id=runtime.workspace_id),
            await load_live(session=session, workspace_id=runtime.workspace_id),
        ]
        predicted = (
            await session.exec(
                select(LearningLogEntry.predicted).order_by(col(LearningLogEntry.id))
            )
        ).all()
    assert all(p is not None and 0.0 < p < 1.0 for p in predicted)
    for loaded in rebuilt:
        assert (loaded.version, loaded.outcomes_seen) == (live.version, live.outcomes_seen)
        assert loaded.model.drift.detections == live.model.drift.detections == len(events)
        assert loaded.model.drift.outcomes == live.model.drift.outcomes
        for probe in PROBES:
            assert loaded.model.probability(probe) == live.model.probability(probe)
