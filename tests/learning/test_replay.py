"""Replaying the learning log rebuilds the live model exactly, on SQLite and PostgreSQL.

Every update goes through the real paths: activities through ``capture``, nudges through
the outbox poster, reactions through ``apply_feedback`` and outcomes through ``close_deal``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from bot.flows import apply_feedback, capture
from bot.outbox import OutboxPoster, Posted
from bot.runtime import Runtime
from learning.features import Features
from learning.pipeline import build_model
from learning.store import LoadedModel, load_live, replay
from models.contact import ContactIdentity
from models.db import unit_of_work
from models.deal import Deal
from models.learning import LearningLogEntry
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
    """A transport that takes every message, as Slack does, and gives it a timestamp."""

    def __init__(self) -> None:
        self.posted = 0

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
        metadata: dict[str, Any],
    ) -> Posted:
        self.posted += 1
        return Posted(channel_id=f"D{channel}", ts=f"1795000000.{self.posted:06d}")


async def engaged_lead(runtime: Runtime, name: str) -> Nudge:
    """An engaged VP captured activity by activity; returns their sent hot-lead nudge."""
    person = PersonIn(email=f"{name}@{name}-corp.example", name=name.title(), title="VP of Sales")
    touches = [
        ("email", {"direction": "outbound"}, {}),
        ("email", {"direction": "inbound"}, {}),
        ("web", {}, {"page": "pricing", "dwell_s": 300}),
        ("web", {}, {"page": "pricing", "dwell_s": 240}),
        ("meeting", {}, {}),
    ]
    for n, (kind, extra, facts) in enumerate(touches):
        item = ActivityIn(
            source="test", external_id=f"{name}-{n}", kind=kind,
            occurred_at=NOW - timedelta(hours=60 - 10 * n), people=(person,),
            rep_email=REP.email, facts=facts, **extra,
        )  # fmt: skip
        assert await capture(runtime, item) == "stored"
    await OutboxPoster(runtime.sessions, AcceptingSlack(), pace_s=0).run_once(now=NOW)
    async with unit_of_work(runtime.sessions) as session:
        contact_id = (
            await session.exec(
                select(ContactIdentity.contact_id).where(
                    ContactIdentity.value == person.email
                )
            )
        ).one()
        query = select(Nudge).where(
            Nudge.contact_id == contact_id, Nudge.cause == "hot_lead", Nudge.state == "sent"
        )
        return (await session.exec(query)).one()
