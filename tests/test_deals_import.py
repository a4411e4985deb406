"""`nudge import-deals`: history loads once, outcomes teach the model, bad lines are named."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import func, select

from bot.deals_import import import_deals
from bot.runtime import Runtime
from learning.store import replay
from models.account import Account
from models.db import unit_of_work
from models.deal import Deal
from models.learning import LearningLogEntry

CSV = """deal_id,deal_name,account_name,account_domain,contact_email,contact_name,contact_title,owner_email,stage,amount,created_at,closed_at,outcome,industry,employees
D-1,Globex pilot,Globex,globex.example,ana@globex.example,Ana Silva,VP of Sales,,Proposal,12000,2025-01-10,2025-02-20,won,software,850
D-2,Initech rollout,Initech,initech.example,bob@initech.example,Bob Ray,Analyst,,Demo,8000,2025-01-15,2025-03-01,lost,retail,240
D-3,Umbrella,Umbrella,umbrella.example,eve@umbrella.example,Eve,CFO,,Negotiation,30000,2025-04-01,,open,finance,9000
D-4,Broken,Nope,nope.example,not-an-email,X,,,Demo,1,2025-01-01,,open,,
D-5,Bad date,Nope,nope.example,zed@nope.example,Zed,,,Demo,1,yesterday,,open,,
"""  # noqa: E501


async def _count(runtime: Runtime, table: type[Deal] | type[Account]) -> int:
    async with unit_of_work(runtime.sessions) as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


async def test_history_loads_once_and_outcomes_teach(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    path.write_text(CSV)
    counts, bad = await import_deals(runtime, path)
    assert (counts["deals"], counts["won"], counts["lost"], counts["learned"]) == (3, 1, 1, 2)
    assert [(b.line, b.reason.split(":")[0]) for b in bad] == [
        (5, "contact_email"),
        (6, "created_at"),
    ]
    assert runtime.scorer.outcomes_seen == 2
    version = runtime.scorer.version

    again, _ = await import_deals(runtime, path)
    assert again["learned"] == 0
    assert runtime.scorer.version == version
    assert await _count(runtime, Deal) == 3
    assert await _count(runtime, Account) == 3

    async with unit_of_work(runtime.sessions) as session:
        rows = (await session.exec(select(LearningLogEntry))).all()
        rebuilt = await replay(session=session, workspace_id=runtime.workspace_id)
        won = (await session.exec(select(Deal).where(Deal.external_id == "D-1"))).one()
    assert {r.source for r in rows} == {"import"}
    assert [r.label for r in rows] == [True, False]
    assert rows[0].features["seniority"] == "vp"
    assert rows[0].features["industry"] == "software"
    assert (won.stage, won.outcome) == ("Closed Won", "won")
    probe: dict[str, float | str] = {"seniority": "vp", "industry": "software"}
    assert rebuilt.model.probability(probe) == runtime.scorer.model.probability(probe)
