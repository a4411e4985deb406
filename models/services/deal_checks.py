"""Deal nudges: a **stale deal**, and a **meeting tomorrow** with a deal that is not ready.

A deal is stale when nothing happened with its account or its people for
``crm.nudges.stale_days``. A meeting tomorrow (in the owner's time zone) with someone on an
open deal is worth preparing when the deal has problems: open hygiene issues (on the deal
or its people), no next step agreed recently (a call or note whose next-step signal fired),
or staleness. Each nudge is queued with :func:`queue_nudge`, so it fires once per state
of its facts and a change of facts is threaded under the first message.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.activity import Activity, ActivityParticipant
from models.config import CrmConfig
from models.contact import Contact
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue
from models.nudge import Nudge
from models.services.delivery import zone
from models.services.nudges import owner_destination, queue_nudge
from models.workspace import User

MEETING_HORIZON = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class DealState:
    """What the checks know about one open deal."""

    deal: Deal
    account_name: str | None
    contact_ids: tuple[int, ...]
    last_activity: datetime | None
    stale: bool


def _newest(found: dict[int, datetime], rows: Any) -> None:
    for key, at in rows:
        if key is not None and at is not None and (key not in found or at > found[key]):
            found[key] = at


async def deal_states(
    *,
    session: AsyncSession,
    workspace_id: int,
    stale_days: int,
    now: datetime,
    deal_ids: Collection[int] | None = None,
) -> dict[int, DealState]:
    """Every open deal (or those named) with its people and its last activity, in 5 queries."""
    query = select(Deal).where(Deal.workspace_id == workspace_id, Deal.outcome == "open")
    if deal_ids is not None:
        query = query.where(col(Deal.id).in_(list(deal_ids)))
    deals = {d.id or 0: d for d in (await session.exec(query)).all()}
    if not deals:
        return {}
    people: dict[int, list[int]] = {}
    links = await session.exec(
        select(DealContact.deal_id, DealContact.contact_id)
        .where(col(DealContact.deal_id).in_(deals))
        .order_by(col(DealContact.id))
    )
    for deal_id, contact_id in links.all():
        people.setdefault(deal_id, []).append(contact_id)
    account_ids = {d.account_id for d in deals.values() if d.account_id is not None}
    names = dict(
        (await session.exec(
            select(Account.id, Account.name).where(col(Account.id).in_(account_ids))
        )).all()
    )  # fmt: skip
    past = col(Activity.occurred_at) <= now
    newest = func.max(Activity.occurred_at)
    by_deal: dict[int, datetime] = {}
    _newest(by_deal, (await session.exec(
        select(Activity.deal_id, newest).where(col(Activity.deal_id).in_(deals), past)
        .group_by(col(Activity.deal_id))
    )).all())  # fmt: skip
    _newest(by_deal, (await session.exec(
        select(DealContact.deal_id, newest)
        .join(ActivityParticipant, col(ActivityParticipant.contact_id) == DealContact.contact_id)
        .join(Activity, col(Activity.id) == ActivityParticipant.activity_id)
        .where(col(DealContact.deal_id).in_(deals), past)
        .group_by(col(DealContact.deal_id))
    )).all())  # fmt: skip
    by_account: dict[int, datetime] = {}
    _newest(by_account, (await session.exec(
        select(Activity.account_id, newest).where(col(Activity.account_id).in_(account_ids), past)
        .group_by(col(Activity.account_id))
    )).all())  # fmt: skip
    horizon = now - timedelta(days=stale_days)
    states = {}
    for deal_id, deal in deals.items():
        candidates = [by_deal.get(deal_id), by_account.get(deal.account_id or -1)]
        last = max((at for at in candidates if at is not None), default=None)
        stale = (last or deal.created_at) < horizon
        name = names.get(deal.account_id) if deal.account_id is not None else None
        states[deal_id] = DealState(deal, name, tuple(people.get(deal_id, ())), last, stale)
    return states


def deal_card(state: DealState) -> dict[str, Any]:
    """Who and what the deal is, as a nudge shows it."""
    deal = state.deal
    return {
        "deal_id": deal.id,
        "name": deal.name,
        "stage": deal.stage,
        "amount": deal.amount,
        "close_date": deal.close_date.isoformat() if deal.close_date else None,
        "account": state.account_name,
    }


async def queue_stale_deals(
    *, session: AsyncSession, states: dict[int, DealState], config: CrmConfig, now: datetime
) -> list[Nudge]:
    """A stale-deal nudge per stale deal, once per last activity (new activity, new state)."""
    queued = []
    for state in states.values():
        if not state.stale:
            continue
        deal = state.deal
        target = await owner_destination(
            session=session, workspace_id=deal.workspace_id, owner_id=deal.owner_id, config=config
        )
        if target is None:
            continue
        last = state.last_activity
        since = last or deal.created_at
        nudge = await queue_nudge(
            session=session,
            workspace_id=deal.workspace_id,
            cause="stale_deal",
            subject=f"deal:{deal.id}",
            facts={"last_activity": last.isoformat() if last else None},
            target=target,
            payload={
                "deal": deal_card(state),
                "last_activity": last.isoformat() if last else None,
                "idle_days": (now - since).days,
                "stale_days": config.nudges.stale_days,
            },
            contact_id=state.contact_ids[0] if state.contact_ids else None,
            deal_id=deal.id,
            now=now,
        )
        if nudge is not None:
            queued.append(nudge)
    return queued


def _agreed_next_step(activity: Activity) -> bool:
    facts = activity.facts or {}
    signals = facts.get("transcript_signals") or {}
    hits = (signals.get("next_steps") or {}).get("count", 0)
    return bool(facts.get("next_step")) or (isinstance(hits, int) and hits > 0)


async def _problems(
    session: AsyncSession, state: DealState, stale_days: int, now: datetime
) -> dict[str, Any]:
    """The deal's open hygiene issues, a missing next step, and staleness."""
    deal_id = state.deal.id or 0
    issues = (
        await session.exec(
            select(HygieneIssue)
            .where(
                HygieneIssue.workspace_id == state.deal.workspace_id,
                col(HygieneIssue.closed_at).is_(None),
                or_(
                    and_(
                        col(HygieneIssue.entity_type) == "deal",
                        col(HygieneIssue.entity_id) == deal_id,
                    ),
                    and_(
                        col(HygieneIssue.entity_type) == "contact",
                        col(HygieneIssue.entity_id).in_(state.contact_ids),
                    ),
                ),
            )
            .order_by(col(HygieneIssue.id))
        )
    ).all()
    recent = (
        await session.exec(
            select(Activity)
            .join(ActivityParticipant, col(ActivityParticipant.activity_id) == Activity.id)
            .where(
                col(ActivityParticipant.contact_id).in_(state.contact_ids),
                col(Activity.occurred_at) > now - timedelta(days=stale_days),
                col(Activity.occurred_at) <= now,
            )
        )
    ).all()
    return {
        "issues": [{"id": i.id, "rule": i.rule, "message": i.message} for i in issues],
        "no_next_step": not any(_agreed_next_step(a) for a in recent),
        "stale": state.stale,
    }


async def _meetings_soon(
    session: AsyncSession, workspace_id: int, now: datetime
) -> list[tuple[Activity, int, int | None]]:
    """Meetings in the next two days, with each outside participant and their account."""
    rows = await session.exec(
        select(Activity, ActivityParticipant.contact_id, Contact.account_id)
        .join(ActivityParticipant, col(ActivityParticipant.activity_id) == Activity.id)
        .join(Contact, col(Contact.id) == ActivityParticipant.contact_id)
        .where(
            Activity.workspace_id == workspace_id,
            Activity.kind == "meeting",
            col(Activity.occurred_at) > now,
            col(Activity.occurred_at) <= now + MEETING_HORIZON,
        )
        .order_by(col(Activity.occurred_at), col(Activity.id))
    )
    return [(a, c, acc) for a, c, acc in rows.all() if not (a.facts or {}).get("cancelled")]


async def queue_meeting_prep(
    *,
    session: AsyncSession,
    workspace_id: int,
    states: dict[int, DealState],
    config: CrmConfig,
    now: datetime,
) -> list[Nudge]:
    """A nudge per meeting tomorrow (owner's time zone) with an open deal that has problems.

    A participant's deals are those they are linked to, else their account's open deals.
    """
    deals_of: dict[int, list[DealState]] = {}
    deals_at: dict[int, list[DealState]] = {}
    for state in states.values():
        for contact_id in state.contact_ids:
            deals_of.setdefault(contact_id, []).append(state)
        if state.deal.account_id is not None:
            deals_at.setdefault(state.deal.account_id, []).append(state)
    queued: list[Nudge] = []
    seen: set[tuple[int, int]] = set()
    for meeting, contact_id, account_id in await _meetings_soon(session, workspace_id, now):
        linked = deals_of.get(contact_id) or deals_at.get(account_id or -1, [])
        for state in linked:
            deal = state.deal
            if (meeting.id or 0, deal.id or 0) in seen:
                continue
            seen.add((meeting.id or 0, deal.id or 0))
            owner = await session.get(User, deal.owner_id) if deal.owner_id else None
            tz = zone(owner.tz if owner else None)
            tomorrow = now.astimezone(tz).date() + timedelta(days=1)
            if meeting.occurred_at.astimezone(tz).date() != tomorrow:
                continue
            problems = await _problems(session, state, config.nudges.stale_days, now)
            if not (problems["issues"] or problems["no_next_step"] or problems["stale"]):
                continue
            target = await owner_destination(
                session=session, workspace_id=deal.workspace_id, owner_id=deal.owner_id,
                config=config,
            )  # fmt: skip
            if target is None:
                continue
            nudge = await queue_nudge(
                session=session,
                workspace_id=workspace_id,
                cause="meeting_prep",
                subject=f"meeting:{meeting.id}:deal:{deal.id}",
                facts={
                    "meeting_at": meeting.occurred_at.isoformat(),
                    "issues": [i["id"] for i in problems["issues"]],
                    "no_next_step": problems["no_next_step"],
                    "stale": problems["stale"],
                },
                target=target,
                payload={
                    "deal": deal_card(state),
                    "meeting": {
                        "at": meeting.occurred_at.isoformat(),
                        "tz": str(tz),
                        "subject": meeting.subject,
                    },
                    "last_activity": state.last_activity.isoformat()
                    if state.last_activity
                    else None,
                    **problems,
                },
                contact_id=contact_id,
                deal_id=deal.id,
                now=now,
            )
            if nudge is not None:
                queued.append(nudge)
    return queued


async def check_deals(
    *,
    session: AsyncSession,
    workspace_id: int,
    config: CrmConfig,
    now: datetime,
    deal_ids: Collection[int] | None = None,
) -> list[Nudge]:
    """Queue stale-deal and meeting-prep nudges for every open deal (or those named)."""
    states = await deal_states(session=session, workspace_id=workspace_id,
                               stale_days=config.nudges.stale_days, now=now,
                               deal_ids=deal_ids)  # fmt: skip
    stale = await queue_stale_deals(session=session, states=states, config=config, now=now)
    prep = await queue_meeting_prep(session=session, workspace_id=workspace_id, states=states,
                                    config=config, now=now)  # fmt: skip
    return stale + prep
