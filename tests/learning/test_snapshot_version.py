"""A snapshot of an older pipeline is never restored: the model is rebuilt from the log."""

from __future__ import annotations

from sqlmodel import select

from bot.runtime import Runtime
from learning.pipeline import build_model
from learning.store import load_live, record_update
from models.db import unit_of_work
from models.learning import ModelSnapshot

PROBE: dict[str, float | str] = {"recency": 0.7, "meetings_30d": 1.0, "seniority": "vp"}


async def test_an_old_pipelines_snapshot_is_replayed_over(runtime: Runtime) -> None:
    async with runtime.scorer.update() as pending, unit_of_work(runtime.sessions) as session:
        for n in range(3):
            await record_update(
                session=session, pending=pending, workspace_id=runtime.workspace_id,
                subject="s", actor="a", source="outcome", features={"recency": 0.2 * n},
                label=n % 2 == 0, weight=1.0, snapshot_every=1,
            )  # fmt: skip
    async with unit_of_work(runtime.sessions) as session:
        for snapshot in (await session.exec(select(ModelSnapshot))).all():
            snapshot.pipeline_version, snapshot.blob = 1, build_model().to_bytes()
            session.add(snapshot)
    async with unit_of_work(runtime.sessions) as session:
        loaded = await load_live(session=session, workspace_id=runtime.workspace_id)
    assert (loaded.version, loaded.outcomes_seen) == (3, 3)
    assert loaded.model.probability(PROBE) == runtime.scorer.model.probability(PROBE)
    assert loaded.model.probability(PROBE) != build_model().probability(PROBE)
