"""Replaying the learning log rebuilds the live model exactly, on SQLite and PostgreSQL.

Every update goes through the real paths: activities through ``capture``, nudges through
the outbox poster, reactions through ``apply_feedback`` and outcomes through ``close_deal``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from bot.config import AppConfig
from bot.flows import apply_feedback, capture
from bot.outbox import OutboxPoster, Posted
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.settings import Settings
from learning.features import Features
from learning.pipeline import build_model
from learning.store import load_live, replay
from models.contact import ContactIdentity
from models.db import unit_of_work
from models.deal import Deal
from models.learning import LearningLogEntry, ModelSnapshot
from models.nudge import Nudge
from models.services.deals import close_deal, upsert_deal
from models.services.feedback import ReactionIn
from models.services.inputs import ActivityIn, PersonIn
from tests.conftest import NOW, REP

PROBES: tuple[Features, ...] = (
    {},
    {"pricing_visits_7d": 3.0, "meetings_30d": 1.0, "seniority": "vp", "recency": 0.9},
    {"unanswered_streak": 3.0, "emails_out_30d": 4.0, "seniority": "individual"},
    {"calls_30d": 2.0, "talk_min_30d": 40.0, "industry": "retail", "never_seen": 7.0},
)


class AcceptingSlack:
    """A transport that takes every message, as Slack does, with a timestamp per nudge."""

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
        metadata: dict[str, Any],
    ) -> Posted:
        nudge_id = int(metadata["event_payload"]["nudge_id"])
        dm = channel if channel.startswith("D") else f"D{channel}"
        return Posted(channel_id=dm, ts=f"1795000000.{nudge_id:06d}")


async def engaged_lead(runtime: Runtime, name: str) -> Nudge:
    """An engaged VP captured activity by activity; returns their sent hot-lead nudge."""
    person = PersonIn(email=f"{name}@{name}-corp.example", name=name.title(), title="VP of Sales")
    touches: list[tuple[str, str | None, dict[str, Any]]] = [
        ("email", "outbound", {}),
        ("email", "inbound", {}),
        ("web", None, {"page": "pricing", "dwell_s": 300}),
        ("web", None, {"page": "pricing", "dwell_s": 240}),
        ("meeting", None, {}),
    ]
    for n, (kind, direction, facts) in enumerate(touches):
        item = ActivityIn(
            source="test", external_id=f"{name}-{n}", kind=kind, direction=direction,
            occurred_at=NOW - timedelta(hours=60 - 10 * n), people=(person,),
            rep_email=REP.email, facts=facts,
        )  # fmt: skip
        assert await capture(runtime, item) == "stored"
    await OutboxPoster(runtime.sessions, AcceptingSlack(), pace_s=0).run_once(now=NOW)
    async with unit_of_work(runtime.sessions) as session:
        contact_id = (
            await session.exec(
                select(ContactIdentity.contact_id).where(ContactIdentity.value == person.email)
            )
        ).one()
        query = select(Nudge).where(
            Nudge.contact_id == contact_id,
            Nudge.cause == "hot_lead",
            Nudge.state == "sent",
            col(Nudge.parent_id).is_(None),
        )
        return (await session.exec(query)).one()


async def close(runtime: Runtime, nudge: Nudge, outcome: str) -> int:
    """Open a deal on the nudge's lead and close it won or lost; returns examples learned."""
    async with unit_of_work(runtime.sessions) as session:
        deal = await upsert_deal(
            session=session, workspace_id=runtime.workspace_id,
            external_id=f"deal-{nudge.contact_id}", name="Deal", account_id=None,
            contact_id=nudge.contact_id, owner_id=None, stage="Proposal", amount=1000.0,
            created_at=NOW - timedelta(days=10), actor="test",
        )  # fmt: skip
    async with runtime.scorer.update() as pending, unit_of_work(runtime.sessions) as session:
        row = await session.get(Deal, deal.id)
        assert row is not None
        return await close_deal(
            session=session, pending=pending, deal=row, outcome=outcome, at=NOW,
            actor="test", config=runtime.config.crm, salt=runtime.salt,
        )  # fmt: skip


def react(nudge: Nudge, emoji: str, *, removed: bool = False) -> ReactionIn:
    """The rep's reaction on a sent nudge, as Slack reports it."""
    assert nudge.channel_id is not None
    assert nudge.message_ts is not None
    return ReactionIn(nudge.channel_id, nudge.message_ts, REP.slack_id, emoji, removed)


async def log_rows(runtime: Runtime) -> list[LearningLogEntry]:
    """The learning log in order."""
    async with unit_of_work(runtime.sessions) as session:
        query = select(LearningLogEntry).order_by(col(LearningLogEntry.id))
        return list((await session.exec(query)).all())


async def assert_rebuilds_live(runtime: Runtime) -> None:
    """Replay from empty and load from the snapshot both equal the live model."""
    live = runtime.scorer
    probes = [*PROBES, *(row.features for row in await log_rows(runtime))]
    async with unit_of_work(runtime.sessions) as session:
        rebuilt = [
            await replay(session=session, workspace_id=runtime.workspace_id),
            await load_live(session=session, workspace_id=runtime.workspace_id),
        ]
    for loaded in rebuilt:
        assert (loaded.version, loaded.outcomes_seen) == (live.version, live.outcomes_seen)
        for probe in probes:
            assert abs(loaded.model.probability(probe) - live.model.probability(probe)) <= 1e-12


async def test_replay_and_snapshot_rebuild_the_live_model(runtime: Runtime) -> None:
    """Reactions and won/lost outcomes, then both rebuilds equal the live model."""
    ana, bo, cy = [await engaged_lead(runtime, name) for name in ("ana", "bo", "cy")]
    for n, (nudge, emoji) in enumerate([(ana, "fire"), (bo, "ice_cube")]):
        result = await apply_feedback(runtime, react(nudge, emoji), event_id=f"Ev{n}")
        assert result is not None
        assert result.feedback.nudge_id == nudge.id
    assert await close(runtime, ana, "won") == 1
    assert await close(runtime, cy, "lost") == 1
    rows = await log_rows(runtime)
    assert [(r.source, r.label, r.weight) for r in rows] == [
        ("reaction", True, 0.8),
        ("reaction", False, 0.8),
        ("outcome", True, 1.0),
        ("outcome", False, 1.0),
    ]
    assert [r.model_version for r in rows] == [1, 2, 3, 4]
    assert (runtime.scorer.version, runtime.scorer.outcomes_seen) == (4, 2)
    fresh = build_model()
    assert all(fresh.probability(p) != runtime.scorer.model.probability(p) for p in PROBES[1:])
    await assert_rebuilds_live(runtime)


async def test_removing_a_reaction_appends_a_reversal(runtime: Runtime) -> None:
    """A removed reaction is a new, negatively weighted row; replay still equals live."""
    ana = await engaged_lead(runtime, "ana")
    assert await apply_feedback(runtime, react(ana, "+1"), event_id="Ev1") is not None
    removed = await apply_feedback(runtime, react(ana, "+1", removed=True), event_id="Ev2")
    assert removed is not None
    assert removed.feedback.reversed_at is not None
    again = await apply_feedback(runtime, react(ana, "+1", removed=True), event_id="Ev3")
    assert again is None
    rows = await log_rows(runtime)
    assert [(r.source, r.label, r.weight) for r in rows] == [
        ("reaction", True, 0.5),
        ("reversal", True, -0.5),
    ]
    assert runtime.scorer.version == 2
    await assert_rebuilds_live(runtime)


async def test_one_reaction_learns_once(runtime: Runtime) -> None:
    """A redelivered event id (even after a removal) or a repeated reaction learns nothing."""
    ana = await engaged_lead(runtime, "ana")
    assert await apply_feedback(runtime, react(ana, "+1"), event_id="Ev1") is not None
    assert await apply_feedback(runtime, react(ana, "+1"), event_id="Ev1") is None
    assert await apply_feedback(runtime, react(ana, "+1::skin-tone-3"), event_id="Ev2") is None
    assert len(await log_rows(runtime)) == 1
    assert runtime.scorer.version == 1
    removed = react(ana, "+1", removed=True)
    assert await apply_feedback(runtime, removed, event_id="Ev3") is not None
    assert await apply_feedback(runtime, react(ana, "+1"), event_id="Ev1") is None
    assert [r.source for r in await log_rows(runtime)] == ["reaction", "reversal"]
    assert runtime.scorer.version == 2
    await assert_rebuilds_live(runtime)


async def test_reactions_that_are_not_feedback_learn_nothing(runtime: Runtime) -> None:
    """An emoji with no meaning, a message that is no nudge, or a reply in the thread."""
    ana = await engaged_lead(runtime, "ana")
    assert ana.channel_id is not None
    assert await apply_feedback(runtime, react(ana, "+1"), event_id="Ev1") is not None
    await OutboxPoster(runtime.sessions, AcceptingSlack(), pace_s=0).run_once(now=NOW)
    async with unit_of_work(runtime.sessions) as session:
        query = select(Nudge).where(Nudge.cause == "feedback_ack", Nudge.state == "sent")
        ack = (await session.exec(query)).one()
    before = [runtime.scorer.model.probability(p) for p in PROBES]
    ignored = [
        react(ana, "tada"),
        ReactionIn(ana.channel_id, "1795000999.000001", REP.slack_id, "+1", False),
        react(ack, "-1"),
    ]
    for n, reaction in enumerate(ignored):
        assert await apply_feedback(runtime, reaction, event_id=f"Ev-ignored-{n}") is None
    assert len(await log_rows(runtime)) == 1
    assert runtime.scorer.version == 1
    assert [runtime.scorer.model.probability(p) for p in PROBES] == before


async def test_restart_loads_the_last_snapshot_and_the_log_after_it(
    settings: Settings, app_config: AppConfig
) -> None:
    """With a snapshot every 3 updates, a restart replays the tail after the last one."""
    learning = app_config.crm.learning.model_copy(update={"snapshot_every": 3})
    crm = app_config.crm.model_copy(update={"learning": learning})
    config = AppConfig(slack=app_config.slack, crm=crm)
    runtime = await open_runtime(settings, config, clock=lambda: NOW)
    try:
        ana, bo = [await engaged_lead(runtime, name) for name in ("ana", "bo")]
        for n, (nudge, emoji) in enumerate([(ana, "fire"), (bo, "-1"), (bo, "ice_cube")]):
            assert await apply_feedback(runtime, react(nudge, emoji), event_id=f"Ev{n}")
        assert await close(runtime, ana, "won") == 1
        async with unit_of_work(runtime.sessions) as session:
            snapshots = (await session.exec(select(ModelSnapshot.version))).all()
        assert list(snapshots) == [3]
        await assert_rebuilds_live(runtime)
        restarted = await open_runtime(settings, config, clock=lambda: NOW)
        try:
            assert restarted.scorer.version == runtime.scorer.version == 4
            assert restarted.scorer.outcomes_seen == 1
            for probe in PROBES:
                assert restarted.scorer.model.probability(probe) == (
                    runtime.scorer.model.probability(probe)
                )
        finally:
            await close_runtime(restarted)
    finally:
        await close_runtime(runtime)
