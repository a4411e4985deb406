"""What must hold in a Nudge database after any crash: the checks the fault tests share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import col, func, select

from bot.config import AppConfig
from bot.flows import capture
from bot.outbox import OutboxPoster
from bot.runtime import Runtime
from learning.features import Features
from learning.store import load_live, replay
from models.activity import Activity, ActivityParticipant
from models.audit import AuditEntry
from models.db import unit_of_work
from models.learning import LearningLogEntry
from models.nudge import Nudge
from models.services.audit import verify_chain
from models.services.feedback import ReactionIn
from models.services.inputs import ActivityIn, PersonIn
from tests.conftest import NOW, REP
from tests.learning.test_replay import AcceptingSlack, react

PROBES: tuple[Features, ...] = (
    {},
    {"pricing_visits_7d": 3.0, "meetings_30d": 1.0, "seniority": "vp", "recency": 0.9},
    {"unanswered_streak": 3.0, "emails_out_30d": 4.0, "seniority": "individual"},
)
EMOJIS = ("fire", "ice_cube")
_FEEDBACK_AUDIT = select(func.count()).where(col(AuditEntry.action).like("feedback.%"))
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


def patient_config(config: AppConfig) -> AppConfig:
    """app.yaml's settings with the hourly learning cap out of the way of a fast loop."""
    feedback = config.crm.feedback.model_copy(update={"max_weight_per_user_hour": 1e9})
    return AppConfig(slack=config.slack, crm=config.crm.model_copy(update={"feedback": feedback}))


async def sent_lead_nudges(runtime: Runtime) -> list[Nudge]:
    """The hot-lead nudges in Slack, the messages people react to, in order."""
    async with runtime.sessions() as session:
        query = select(Nudge).where(
            Nudge.cause == "hot_lead", col(Nudge.parent_id).is_(None), Nudge.state == "sent"
        )
        return list((await session.exec(query.order_by(col(Nudge.id)))).all())


async def send_lead_nudges(runtime: Runtime) -> list[Nudge]:
    """Post the queued nudges (Slack accepting everything); the hot-lead ones, in order."""
    await OutboxPoster(runtime.sessions, AcceptingSlack(), pace_s=0).run_once(now=NOW)
    return await sent_lead_nudges(runtime)


def toggle(nudges: list[Nudge], n: int) -> ReactionIn:
    """The n-th of a stream of reactions that each change a verdict: added, taken back, ..."""
    pair = n % (2 * len(nudges))
    emoji = EMOJIS[pair // len(nudges)]
    return react(nudges[pair % len(nudges)], emoji, removed=(n // (2 * len(nudges))) % 2 == 1)


@dataclass(frozen=True, slots=True)
class Counts:
    """Rows that must never be lost."""

    activities: int
    learning_log: int
    feedback_audit: int


async def count_rows(runtime: Runtime) -> Counts:
    """How many activities, learning-log rows and audit rows of verdicts are stored."""
    async with unit_of_work(runtime.sessions) as session:
        activities = (await session.exec(select(func.count()).select_from(Activity))).one()
        log = (await session.exec(select(func.count()).select_from(LearningLogEntry))).one()
        audited = (await session.exec(_FEEDBACK_AUDIT)).one()
    return Counts(int(activities), int(log), int(audited))


async def assert_consistent(runtime: Runtime) -> None:
    """The invariants of a database any crash may have left, checked against the product.

    The live model (snapshot plus log, as a restart loads it) equals a replay of the log;
    the log's versions run 1..n; each verdict learned was audited exactly once; each
    activity has its participants; the audit chain verifies.
    """
    async with unit_of_work(runtime.sessions) as session:
        ws = runtime.workspace_id
        live = await load_live(session=session, workspace_id=ws)
        rebuilt = await replay(session=session, workspace_id=ws)
        log = list(
            (await session.exec(select(LearningLogEntry).order_by(col(LearningLogEntry.id)))).all()
        )
        audited = (await session.exec(_FEEDBACK_AUDIT)).one()
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
    assert audited == len(learned)
    assert orphans == 0
    assert chain.ok, chain.reason
