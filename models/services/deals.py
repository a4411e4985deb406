"""Deals: create, move through stages, and close; a close teaches the model.

The label goes to the lead's features as they were while the deal was open (the last
score snapshot before the close), never to the state after it, so nothing leaks.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import PendingUpdate
from learning.store import pseudonym, record_update
from models.config import CrmConfig
from models.deal import Deal, DealContact, DealStageChange
from models.learning import ScoreSnapshot
from models.services.audit import record_audit
from models.services.hygiene import check_deals

CLOSED_STAGES = {"won": "Closed Won", "lost": "Closed Lost"}


async def upsert_deal(
    *,
    session: AsyncSession,
    workspace_id: int,
    external_id: str,
    name: str,
    account_id: int | None,
    contact_id: int | None,
    owner_id: int | None,
    stage: str,
    amount: float | None,
    created_at: datetime,
    close_date: date | None = None,
    actor: str,
) -> Deal:
    """Create a deal (or update it), recording the stage change and linking its contact."""
    query = select(Deal).where(Deal.workspace_id == workspace_id, Deal.external_id == external_id)
    deal = (await session.exec(query)).first()
    previous_stage = deal.stage if deal else None
    if deal is not None and deal.outcome != "open":
        stage = deal.stage  # a closed deal is reopened only by an explicit change, not a re-import
    if deal is None:
        deal = Deal(
            workspace_id=workspace_id, external_id=external_id, name=name, created_at=created_at
        )
    deal.account_id, deal.owner_id, deal.amount = account_id, owner_id, amount
    deal.stage, deal.close_date, deal.updated_at = stage, close_date, created_at
    session.add(deal)
    await session.flush()
    assert deal.id is not None
    if previous_stage != stage:
        session.add(
            DealStageChange(
                workspace_id=workspace_id,
                deal_id=deal.id,
                from_stage=previous_stage,
                to_stage=stage,
                actor=actor,
                changed_at=created_at,
            )
        )
    if contact_id is not None:
        link = select(DealContact).where(
            DealContact.deal_id == deal.id, DealContact.contact_id == contact_id
        )
        if (await session.exec(link)).first() is None:
            session.add(
                DealContact(workspace_id=workspace_id, deal_id=deal.id, contact_id=contact_id)
            )
    await session.flush()
    return deal


async def _open_snapshots(session: AsyncSession, deal: Deal, at: datetime) -> list[ScoreSnapshot]:
    """The last snapshot before ``at`` of each contact on the deal."""
    contacts = await session.exec(
        select(DealContact.contact_id).where(DealContact.deal_id == deal.id)
    )
    found = []
    for contact_id in contacts.all():
        query = (
            select(ScoreSnapshot)
            .where(ScoreSnapshot.contact_id == contact_id, col(ScoreSnapshot.taken_at) < at)
            .order_by(col(ScoreSnapshot.taken_at).desc(), col(ScoreSnapshot.id).desc())
            .limit(1)
        )
        snapshot = (await session.exec(query)).first()
        if snapshot is not None:
            found.append(snapshot)
    return found


async def close_deal(
    *,
    session: AsyncSession,
    pending: PendingUpdate,
    deal: Deal,
    outcome: str,
    at: datetime,
    actor: str,
    config: CrmConfig,
    salt: str,
    source: str = "outcome",
) -> int:
    """Close a deal won or lost and learn from it; returns how many examples were learned.

    ``source`` is "outcome" for a deal closed now, "import" for history loaded from a file.
    """
    if outcome not in CLOSED_STAGES:
        raise ValueError(f"outcome must be won or lost, not {outcome!r}")
    if deal.outcome == outcome:
        return 0
    before = {"stage": deal.stage, "outcome": deal.outcome}
    snapshots = await _open_snapshots(session, deal, at)
    for snapshot in snapshots:
        await record_update(
            session=session,
            pending=pending,
            workspace_id=deal.workspace_id,
            subject=pseudonym(f"contact:{snapshot.contact_id}", salt=salt),
            actor=pseudonym(actor, salt=salt),
            source=source,
            features=snapshot.features,
            label=outcome == "won",
            weight=config.learning.outcome_weight,
            snapshot_every=config.learning.snapshot_every,
        )
    assert deal.id is not None
    session.add(
        DealStageChange(
            workspace_id=deal.workspace_id,
            deal_id=deal.id,
            from_stage=deal.stage,
            to_stage=CLOSED_STAGES[outcome],
            actor=actor,
            changed_at=at,
        )
    )
    deal.stage, deal.outcome, deal.closed_at, deal.updated_at = (
        CLOSED_STAGES[outcome],
        outcome,
        at,
        at,
    )
    session.add(deal)
    await record_audit(
        session=session,
        workspace_id=deal.workspace_id,
        actor=actor,
        action="deal.closed",
        target_type="deal",
        target_id=deal.id,
        before=before,
        after={"stage": deal.stage, "outcome": outcome, "examples_learned": len(snapshots)},
    )
    await session.flush()
    await check_deals(session=session, workspace_id=deal.workspace_id, deal_ids=[deal.id],
                      config=config, now=at, actor=actor)  # fmt: skip
    return len(snapshots)
