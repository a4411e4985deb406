"""Which open deals the manager digest calls at risk, and why, in words.

A deal is **at risk** when it is open and at least one of these holds (``crm.digest``):

- *quiet*: nothing happened on it or with its contacts for ``stale_days`` (counted from
  its creation when nothing ever happened);
- *overdue*: its close date is before the recipient's local today;
- *closing cold*: it closes within ``closing_days`` and its best lead is cold (below the
  warm band) or cooling (see next line);
- *score fell*: a lead on it lost ``score_drop`` points or more from its peak of the last
  ``drop_days``.

Deals with more reasons come first, then the larger ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import Activity
from models.config import CrmConfig
from models.contact import Contact
from models.deal import Deal, DealContact
from models.learning import ScoreSnapshot

Lead = tuple[int, int]
"""A lead on a deal: (current score, peak score within ``drop_days``)."""


async def flag_deals(
    *,
    session: AsyncSession,
    deals: Sequence[Deal],
    config: CrmConfig,
    now: datetime,
    today: date,
) -> list[tuple[Deal, list[str]]]:
    """The deals at risk with their reasons, most at risk first."""
    ids = [d.id for d in deals if d.id is not None]
    last_touch = await _last_activity(session, ids)
    leads = await _deal_leads(session, ids, since=now - timedelta(days=config.digest.drop_days))
    flagged = []
    for deal in deals:
        why = risks(deal, last_touch.get(deal.id), leads.get(deal.id, []), config, now, today)
        if why:
            flagged.append((deal, why))
    flagged.sort(key=lambda item: (-len(item[1]), -(item[0].amount or 0), item[0].id or 0))
    return flagged


async def _last_activity(session: AsyncSession, deal_ids: list[int]) -> dict[int | None, datetime]:
    """The latest activity on each deal, directly or with one of its contacts."""
    direct = await session.exec(
        select(Activity.deal_id, func.max(Activity.occurred_at))
        .where(col(Activity.deal_id).in_(deal_ids))
        .group_by(col(Activity.deal_id))
    )
    via_contacts = await session.exec(
        select(DealContact.deal_id, func.max(Activity.occurred_at))
        .join(Activity, col(Activity.contact_id) == DealContact.contact_id)
        .where(col(DealContact.deal_id).in_(deal_ids))
        .group_by(col(DealContact.deal_id))
    )
    latest: dict[int | None, datetime] = {}
    for deal_id, at in [*direct.all(), *via_contacts.all()]:
        if at is not None and (deal_id not in latest or at > latest[deal_id]):
            latest[deal_id] = at
    return latest


async def _deal_leads(
    session: AsyncSession, deal_ids: list[int], *, since: datetime
) -> dict[int | None, list[Lead]]:
    """Each scored lead of each deal, with its peak score since ``since``."""
    peaks = (
        select(ScoreSnapshot.contact_id, func.max(ScoreSnapshot.score).label("peak"))
        .where(col(ScoreSnapshot.taken_at) >= since)
        .group_by(col(ScoreSnapshot.contact_id))
        .subquery()
    )
    rows = await session.exec(
        select(DealContact.deal_id, Contact.score, peaks.c.peak)
        .join(Contact, col(Contact.id) == DealContact.contact_id)
        .join(peaks, peaks.c.contact_id == Contact.id, isouter=True)
        .where(col(DealContact.deal_id).in_(deal_ids), col(Contact.score).is_not(None))
    )
    leads: dict[int | None, list[Lead]] = defaultdict(list)
    for deal_id, score, peak in rows.all():
        current = int(score or 0)
        leads[deal_id].append((current, max(current, int(peak or 0))))
    return leads


def risks(
    deal: Deal,
    last_touch: datetime | None,
    leads: list[Lead],
    config: CrmConfig,
    now: datetime,
    today: date,
) -> list[str]:
    """Why an open deal is at risk, in words; empty when it is not.

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    >>> deal = Deal(name="d", created_at=now - timedelta(days=3), close_date=date(2026, 11, 23))
    >>> risks(deal, None, [(30, 35)], CrmConfig(), now, now.date())
    ['closes in 3 days with a cold lead (best score 30)']
    >>> risks(deal, None, [(60, 85)], CrmConfig(), now, now.date())
    ['closes in 3 days with a cooling lead', "a lead's score fell 85 → 60 within 7 days"]
    >>> risks(deal, now, [(60, 70)], CrmConfig(), now, now.date())
    []
    """
    rules = config.digest
    reasons = []
    quiet_days = (now - (last_touch or deal.created_at)).days
    if quiet_days >= rules.stale_days:
        reasons.append(f"no activity for {quiet_days} days")
    best = max((current for current, _ in leads), default=None)
    fell = max(leads, key=lambda lead: lead[1] - lead[0], default=None)
    cooling = fell is not None and fell[1] - fell[0] >= rules.score_drop
    if deal.close_date is not None and deal.close_date < today:
        reasons.append(f"close date passed ({deal.close_date.isoformat()})")
    elif deal.close_date is not None and (deal.close_date - today).days <= rules.closing_days:
        cold = best is not None and best < config.scoring.warm
        if cold or cooling:
            state = f"cold lead (best score {best})" if cold else "cooling lead"
            days = (deal.close_date - today).days
            reasons.append(f"closes in {days} day{'s' if days != 1 else ''} with a {state}")
    if cooling and fell is not None:
        reasons.append(f"a lead's score fell {fell[1]} → {fell[0]} within {rules.drop_days} days")
    return reasons
