"""C5.4: the learning log and model snapshots hold no email, name, phone or free text."""

from __future__ import annotations

import json

from sqlmodel import select

from bot.flows import apply_feedback, capture
from bot.outbox import OutboxPoster
from bot.runtime import Runtime
from models.db import unit_of_work
from models.learning import LearningLogEntry, ModelSnapshot
from tests.conftest import REP
from tests.governance.test_erasure import ANA, _sent_lead_nudge, _touches
from tests.learning.test_replay import AcceptingSlack, react

FORBIDDEN = (
    "ana.marquez", "globex", "marquez", "4155550134", "vp of sales", "pricing for",
    "call me", REP.email.lower(), REP.slack_id.lower(), "dana",
)  # fmt: skip


async def test_learning_log_and_snapshots_carry_no_personal_data(runtime: Runtime) -> None:
    for item in _touches(ANA, "ana"):
        assert await capture(runtime, item) == "stored"
    await OutboxPoster(runtime.sessions, AcceptingSlack(), pace_s=0).run_once()
    nudge = await _sent_lead_nudge(runtime, ANA.email or "")
    assert await apply_feedback(runtime, react(nudge, "fire")) is not None
    async with unit_of_work(runtime.sessions) as session:
        entries = (await session.exec(select(LearningLogEntry))).all()
        blobs = [s.blob for s in (await session.exec(select(ModelSnapshot))).all()]
    assert entries
    assert blobs
    for entry in entries:
        text = json.dumps(entry.model_dump(mode="json")).lower()
        assert not [word for word in FORBIDDEN if word in text], text
        assert all(isinstance(v, int | float | bool) or (isinstance(v, str) and len(v) <= 32)
                   for v in entry.features.values())  # fmt: skip
    for blob in blobs:
        lowered = bytes(blob).lower()
        assert not [word for word in FORBIDDEN if word.encode() in lowered]
