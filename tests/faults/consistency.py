"""What must hold in a Nudge database after any crash: the checks the fault tests share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows import capture
from bot.runtime import Runtime
from learning.features import Features
from learning.store import load_live, replay
from models.activity import Activity, ActivityParticipant
from models.audit import AuditEntry
from models.db import unit_of_work
from models.feedback import Feedback
from models.learning import LearningLogEntry
from models.nudge import Nudge
from models.services.audit import verify_chain
from models.services.inputs import ActivityIn, PersonIn
from tests.conftest import NOW, REP

PROBES: tuple[Features, ...] = (
    {},
    {"pricing_visits_7d": 3.0, "meetings_30d": 1.0, "seniority": "vp", "recency": 0.9},
    {"unanswered_streak": 3.0, "emails_out_30d": 4.0, "seniority": "individual"},
)
ENGAGED: tuple[tuple[str, str | None, dict[str, Any]], ...] = (
    ("email", "outbound", {}),
    ("email", "inbound", {}),
    ("web", None, {"page": "pricing", "dwell_s": 300}),
    ("web", None, {"page": "pricing", "dwell_s": 240}),
    ("meeting", None, {}),
)


def touch(n: int, *, people: int = 40) -> ActivityIn:
    """The n-th activity of a steady stream over a pool of prospects (same n, same item)."""
    kind, direction, facts = ENGAGED[n % len(ENGAGED)]
    who = n % people
    return ActivityIn(
        source="stream", external_id=f"stream-{n}", kind=kind, direction=direction,
        occurred_at=NOW - timedelta(minutes=n % 5000), rep_email=REP.email, facts=facts,
        people=(PersonIn(email=f"p{who}@prospect{who % 7}.example", title="VP of Sales"),),
    )  # fmt: skip


async def seed_hot_leads(runtime: Runtime, count: int) -> None:
    """Engaged prospects captured touch by touch, until each has a hot-lead nudge queued."""
    for lead in range(count):
        person = PersonIn(email=f"lead{lead}@hot{lead}.example", title="VP of Sales")
        for n, (kind, direction, facts) in enumerate(ENGAGED):
            item = ActivityIn(
                source="seed", external_id=f"seed-{lead}-{n}", kind=kind, direction=direction,
                occurred_at=NOW - timedelta(hours=60 - 10 * n), people=(person,),
                rep_email=REP.email, facts=facts,
            )  # fmt: skip
            await capture(runtime, item)


async def lead_nudge_ids(session: AsyncSession) -> list[int]:
    """The first hot-lead nudge of every lead, the ones people react to."""
    query = select(Nudge.id).where(Nudge.cause == "hot_lead", col(Nudge.parent_id).is_(None))
    return [int(i) for i in (await session.exec(query.order_by(col(Nudge.id)))).all() if i]


@dataclass(frozen=True, slots=True)
class Counts:
    """Rows that must never be lost."""

    activities: int
    feedback: int
    learning_log: int
    audit: int


async def count_rows(runtime: Runtime) -> Counts:
    """How many activities, feedback, learning-log and audit rows are stored."""
    async with unit_of_work(runtime.sessions) as session:
        values = [
            int((await session.exec(select(func.count()).select_from(table))).one())
            for table in (Activity, Feedback, LearningLogEntry, AuditEntry)
        ]
    return Counts(*values)


async def assert_consistent(runtime: Runtime) -> None:
    """The invariants of a database any crash may have left, checked against the product.

    The live model (snapshot plus log, as a restart loads it) equals a replay of the log;
    the log's versions run 1..n; each verdict was learned and audited exactly once; each
    activity has its participants; the audit chain verifies.
    """
    async with unit_of_work(runtime.sessions) as session:
        ws = runtime.workspace_id
        live = await load_live(session=session, workspace_id=ws)
        rebuilt = await replay(session=session, workspace_id=ws)
        log = list(
            (await session.exec(select(LearningLogEntry).order_by(col(LearningLogEntry.id)))).all()
        )
        feedback = list((await session.exec(select(Feedback))).all())
        audited = (
            await session.exec(
                select(func.count()).where(col(AuditEntry.action).like("feedback.%"))
            )
        ).one()
        orphans = (
            await session.exec(
                select(func.count())
                .select_from(Activity)
                .where(
                    ~select(ActivityParticipant.id)
                    .where(ActivityParticipant.activity_id == Activity.id)
                    .exists()
                )
            )
        ).one()
        chain = await verify_chain(session=session)
    assert [row.model_version for row in log] == list(range(1, len(log) + 1))
    assert (live.version, live.outcomes_seen) == (rebuilt.version, rebuilt.outcomes_seen)
    for probe in (*PROBES, *(row.features for row in log[-20:])):
        assert abs(live.model.probability(probe) - rebuilt.model.probability(probe)) <= 1e-12
    learned = [row for row in log if row.source in ("button", "reaction", "reversal")]
    assert len(learned) == len(feedback) + sum(row.reversed_at is not None for row in feedback)
    assert audited == len(learned)
    assert orphans == 0
    assert chain.ok, chain.reason
