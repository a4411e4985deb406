"""``nudge model rebuild --without-user`` and ``rollback``: the live model drops exactly those
updates, equals a replay of what remains, and both are audited.
"""

from __future__ import annotations

from sqlmodel import col, select

from bot.flows import apply_feedback, capture
from bot.governance import rebuild_without_user, rollback
from bot.outbox import OutboxPoster
from bot.runtime import Runtime
from learning.pipeline import build_model
from learning.store import OUTCOME_SOURCES, pseudonym
from models.db import unit_of_work
from models.learning import LearningLogEntry
from models.services.audit import AuditFilter, list_audit
from models.services.feedback import ReactionIn
from models.services.roles import grant_role
from tests.governance.test_erasure import (
    ANA,
    BRUNO,
    _sent_lead_nudge,
    _touches,
    assert_live_equals_log,
)
from tests.learning.test_replay import PROBES, AcceptingSlack, assert_rebuilds_live, react

MALLORY = "U0MALLORY"


async def test_rebuild_without_a_user_then_roll_back(runtime: Runtime) -> None:
    for item in [*_touches(ANA, "ana"), *_touches(BRUNO, "bruno")]:
        assert await capture(runtime, item) == "stored"
    await OutboxPoster(runtime.sessions, AcceptingSlack(), pace_s=0).run_once()
    nudges = [await _sent_lead_nudge(runtime, p.email or "") for p in (ANA, BRUNO)]
    async with unit_of_work(runtime.sessions) as session:  # she may see every lead
        await grant_role(
            session=session, workspace_id=runtime.workspace_id, actor="cli",
            slack_user_id=MALLORY, role="admin", config=runtime.config.crm,
        )  # fmt: skip
    for user, emoji in (("U0REP01", "fire"), (MALLORY, "ice_cube")):
        for nudge in nudges:
            assert nudge.channel_id is not None
            assert nudge.message_ts is not None
            signal = ReactionIn(nudge.channel_id, nudge.message_ts, user, emoji, removed=False)
            assert await apply_feedback(runtime, signal) is not None
    version_before = runtime.scorer.version
    assert await rebuild_without_user(runtime, MALLORY, actor="slack:UADMIN") == 2
    assert runtime.scorer.version == version_before + 1
    await assert_live_equals_log(runtime)

    mallory = pseudonym(f"slack:{MALLORY}", salt=runtime.salt)
    async with unit_of_work(runtime.sessions) as session:
        rows = (
            await session.exec(select(LearningLogEntry).order_by(col(LearningLogEntry.id)))
        ).all()
    expected = build_model()
    for row in rows:
        if row.actor != mallory:
            expected.update(row.features, row.label, row.weight,
                            outcome=row.source in OUTCOME_SOURCES)  # fmt: skip
    for probe in PROBES:
        assert runtime.scorer.model.probability(probe) == expected.probability(probe)

    rolled_to = version_before - 2  # the last version without her (later ones were dropped)
    assert await rollback(runtime, rolled_to, actor="cli") == version_before + 2
    await assert_live_equals_log(runtime)
    assert await apply_feedback(runtime, react(nudges[0], "+1")) is not None
    await assert_rebuilds_live(runtime)
    async with unit_of_work(runtime.sessions) as session:
        audited = await list_audit(session=session, query=AuditFilter(action="model"))
    assert [r.action for r in audited] == ["model.rolled_back", "model.rebuilt_without_user"]
    assert audited[1].after == {"version": version_before + 1, "entries_left_out": 2}
