"""The deals read side: ``/deal`` look-ups and the ``/pipeline`` summary, as a viewer may see them.

Stages are shown in the usual order of a sale; stages this team invented come after, by name:

>>> sorted(["Negotiation", "Legal review", "Pilot", "Discovery"], key=stage_order)
['Discovery', 'Pilot', 'Negotiation', 'Legal review']
"""

from __future__ import annotations

from itertools import groupby

from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.contact import Contact
from models.deal import Deal, DealContact
from models.services.access import AccessDeniedError, Viewer, can_see_deal, can_see_user, visible
from models.services.profile import like_pattern
from models.services.profile_parts import (
    contact_match,
    deal_summaries,
    emails_of,
    open_issues,
    people_by_id,
)
from models.services.profile_types import DealSummary, DealView, Person

CANDIDATES = 200
USUAL_STAGES = (
    "lead",
    "prospecting",
    "discovery",
    "qualification",
    "qualified",
    "demo",
    "evaluation",
    "pilot",
    "proposal",
    "negotiation",
    "contract",
)
TOP_DEALS = 5


def stage_order(stage: str) -> tuple[int, str]:
    """Sort key: known stages in sales order, then the rest alphabetically."""
    lowered = stage.casefold()
    known = USUAL_STAGES.index(lowered) if lowered in USUAL_STAGES else len(USUAL_STAGES)
    return known, lowered


async def find_deals(
    *, session: AsyncSession, workspace_id: int, query: str, viewer: Viewer, limit: int = 10
) -> list[DealSummary]:
    """Deals the viewer may see whose name or company contains ``query``; open ones first."""
    query = query.strip()
    if not query:
        return []
    pattern = like_pattern(query)
    rows = await session.exec(
        select(Deal)
        .outerjoin(Account, col(Account.id) == col(Deal.account_id))
        .where(
            Deal.workspace_id == workspace_id,
            visible(viewer, Deal.owner_id),
            or_(
                col(Deal.name).ilike(pattern, escape="\\"),
                col(Account.name).ilike(pattern, escape="\\"),
            ),
        )
        .order_by(col(Deal.outcome) != "open", col(Deal.created_at).desc(), col(Deal.id))
        .limit(CANDIDATES)
    )
    q = query.casefold()
    deals = sorted(
        rows.all(),
        key=lambda d: (d.name.casefold() != q, not d.name.casefold().startswith(q)),
    )
    return await deal_summaries(session, deals[:limit])


async def load_deal(
    *, session: AsyncSession, workspace_id: int, deal_id: int, viewer: Viewer
) -> DealView | None:
    """A deal with its contacts and open issues, None if absent.

    Raises :class:`AccessDeniedError` if the viewer may not see the deal.
    """
    deal = await session.get(Deal, deal_id)
    if deal is None or deal.workspace_id != workspace_id or deal.id is None:
        return None
    if not can_see_deal(viewer, deal):
        raise AccessDeniedError("deal")
    people = (
        await session.exec(
            select(Contact, Account.name)
            .join(DealContact, col(DealContact.contact_id) == col(Contact.id))
            .outerjoin(Account, col(Account.id) == col(Contact.account_id))
            .where(DealContact.deal_id == deal.id, visible(viewer, Contact.owner_id))
            .order_by(col(Contact.score).desc(), col(Contact.id))
        )
    ).all()
    emails = await emails_of(session, [c.id for c, _ in people if c.id is not None])
    contacts = [contact_match(c, company, emails) for c, company in people]
    (summary,) = await deal_summaries(session, [deal])
    issues = await open_issues(
        session=session,
        workspace_id=workspace_id,
        contact_ids=[c.contact_id for c in contacts],
        deal_ids=[deal.id],
    )
    return DealView(deal=summary, contacts=contacts, issues=issues)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class StageTotals(_Frozen):
    """Open deals in one stage: how many, how much, and the biggest few."""

    stage: str
    count: int
    amount: float
    top: list[DealSummary]


class Pipeline(_Frozen):
    """Open deals by stage for some owners (``owners`` empty: everyone the viewer sees)."""

    owners: list[Person]
    stages: list[StageTotals]
    count: int
    amount: float


async def open_deals(
    *,
    session: AsyncSession,
    workspace_id: int,
    viewer: Viewer,
    owner_ids: frozenset[int] | None = None,
) -> list[Deal]:
    """Open deals owned by ``owner_ids`` (None: all the viewer may see), in the pipeline's
    order: by stage, then biggest first."""
    query = select(Deal).where(
        Deal.workspace_id == workspace_id,
        Deal.outcome == "open",
        visible(viewer, Deal.owner_id),
    )
    if owner_ids is not None:
        query = query.where(col(Deal.owner_id).in_(sorted(owner_ids)))
    by_stage: dict[str, list[Deal]] = {}
    for deal in (await session.exec(query.order_by(col(Deal.amount).desc(), col(Deal.id)))).all():
        by_stage.setdefault(deal.stage, []).append(deal)
    return [deal for stage in sorted(by_stage, key=stage_order) for deal in by_stage[stage]]


async def _stage_totals(session: AsyncSession, stage: str, deals: list[Deal]) -> StageTotals:
    return StageTotals(
        stage=stage,
        count=len(deals),
        amount=sum(d.amount or 0.0 for d in deals),
        top=await deal_summaries(session, deals[:TOP_DEALS]),
    )


async def pipeline(
    *,
    session: AsyncSession,
    workspace_id: int,
    viewer: Viewer,
    owner_ids: frozenset[int] | None = None,
) -> Pipeline:
    """Open deals by stage owned by ``owner_ids`` (None: all the viewer may see).

    Raises :class:`AccessDeniedError` if an owner asked for is outside the viewer's reach.
    """
    if owner_ids is not None and not all(can_see_user(viewer, o) for o in owner_ids):
        raise AccessDeniedError("pipeline")
    deals = await open_deals(
        session=session, workspace_id=workspace_id, viewer=viewer, owner_ids=owner_ids
    )
    stages = [
        await _stage_totals(session, stage, list(rows))
        for stage, rows in groupby(deals, key=lambda d: d.stage)
    ]
    people = await people_by_id(session, set(owner_ids or ()))
    return Pipeline(
        owners=sorted(people.values(), key=lambda p: p.name.casefold()),
        stages=stages,
        count=len(deals),
        amount=sum(d.amount or 0.0 for d in deals),
    )
