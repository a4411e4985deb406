"""Score a lead from its stored timeline and keep the result on the contact."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Integer, bindparam, cast, func, null, select, union_all, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.features import UPCOMING, Features, compute_features
from learning.scorer import Score, Scorer
from learning.timeline import LeadTimeline, Touch, seniority_of
from models.account import Account
from models.activity import Activity, ActivityParticipant
from models.contact import Contact, ContactChange
from models.db import AnyRow, insert_rows, query_rows, table_of
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue
from models.learning import ScoreSnapshot
from models.services.outbound import emit_score_changes, score_moved

HISTORY = timedelta(days=120)


class StoredTouch(Protocol):
    """What scoring reads of a stored activity (an :class:`Activity`, or a row of its columns)."""

    kind: str
    occurred_at: datetime
    direction: str | None
    thread_key: str | None
    facts: dict[str, Any]


def touch_of(activity: StoredTouch) -> Touch:
    """The scoring view of a stored activity."""
    facts = activity.facts
    booked = facts.get("booked_at")
    return Touch(
        kind=activity.kind,
        at=activity.occurred_at,
        direction=activity.direction,
        thread=activity.thread_key,
        duration_s=int(facts.get("duration_s") or 0),
        page=facts.get("page"),
        dwell_s=int(facts.get("dwell_s") or 0),
        event=facts.get("event"),
        cancelled=bool(facts.get("cancelled")),
        booked_at=datetime.fromisoformat(booked) if isinstance(booked, str) else None,
    )


@dataclass(frozen=True, slots=True)
class OpenDeal:
    """The open deal a lead is scored with: its id, stage and age."""

    id: int
    stage: str
    created_at: datetime


# The queries below are built once: building a statement costs more than running it here.
_ACTIVITY, _PARTICIPANT = table_of(Activity), table_of(ActivityParticipant)
_DEAL, _DEAL_CONTACT = table_of(Deal), table_of(DealContact)
_TOUCHES = (
    select(
        _PARTICIPANT.c.contact_id,
        _ACTIVITY.c.kind,
        _ACTIVITY.c.occurred_at,
        _ACTIVITY.c.direction,
        _ACTIVITY.c.thread_key,
        _ACTIVITY.c.facts,
    )
    .join(_ACTIVITY, _PARTICIPANT.c.activity_id == _ACTIVITY.c.id)
    .where(
        _PARTICIPANT.c.contact_id.in_(bindparam("ids", expanding=True)),
        _ACTIVITY.c.occurred_at > bindparam("start"),
        _ACTIVITY.c.occurred_at <= bindparam("end"),
    )
    .order_by(_ACTIVITY.c.occurred_at, _ACTIVITY.c.id)
)
_OPEN_DEALS = union_all(
    select(
        _DEAL_CONTACT.c.contact_id,
        cast(null(), Integer).label("account_id"),
        _DEAL.c.id,
        _DEAL.c.stage,
        _DEAL.c.created_at,
    )
    .join(_DEAL, _DEAL_CONTACT.c.deal_id == _DEAL.c.id)
    .where(_DEAL_CONTACT.c.contact_id.in_(bindparam("ids", expanding=True)))
    .where(_DEAL.c.outcome == "open"),
    select(
        cast(null(), Integer).label("contact_id"),
        _DEAL.c.account_id,
        _DEAL.c.id,
        _DEAL.c.stage,
        _DEAL.c.created_at,
    )
    .where(_DEAL.c.account_id.in_(bindparam("accounts", expanding=True)))
    .where(_DEAL.c.outcome == "open"),
).order_by("created_at")
"""Open deals linked to the contacts, and open deals of their accounts, oldest first."""
_CHANGE = table_of(ContactChange)
_TITLE_CHANGES = select(_CHANGE.c.contact_id, _CHANGE.c.changed_at).where(
    _CHANGE.c.contact_id.in_(bindparam("ids", expanding=True)), _CHANGE.c.field == "title"
)
_ACCOUNT, _CONTACT, _ISSUE = table_of(Account), table_of(Contact), table_of(HygieneIssue)
_OPEN_ISSUE_COUNT = (
    select(func.count())
    .where(_ISSUE.c.entity_type == "contact", _ISSUE.c.entity_id == _CONTACT.c.id)
    .where(_ISSUE.c.closed_at.is_(None))
    .scalar_subquery()
)
_CONTEXT = (
    select(
        _CONTACT.c.id,
        _ACCOUNT.c.industry,
        _ACCOUNT.c.employees,
        _OPEN_ISSUE_COUNT.label("open_issues"),
    )
    .select_from(_CONTACT.outerjoin(_ACCOUNT, _ACCOUNT.c.id == _CONTACT.c.account_id))
    .where(_CONTACT.c.id.in_(bindparam("ids", expanding=True)))
)
"""Each contact's firmographics (from its account) and count of open data problems."""


async def _open_deals(session: AsyncSession, contacts: Sequence[Contact]) -> dict[int, OpenDeal]:
    """Each contact's newest open deal, else the newest open one of their account."""
    ids = [c.id for c in contacts]
    accounts = list({c.account_id for c in contacts if c.account_id is not None})
    linked: dict[int, OpenDeal] = {}
    of_account: dict[int, OpenDeal] = {}
    for row in await query_rows(session, _OPEN_DEALS, ids=ids, accounts=accounts):
        opened = OpenDeal(row.id, row.stage, row.created_at)
        if row.contact_id is not None:
            linked[row.contact_id] = opened  # rows come oldest first: the newest stays
        else:
            of_account[row.account_id] = opened
    found = {}
    for contact in contacts:
        deal = linked.get(contact.id or 0) or of_account.get(contact.account_id or 0)
        if deal is not None:
            found[contact.id or 0] = deal
    return found


def _known(activity: StoredTouch, moment: datetime) -> bool:
    """Past activities, and meetings booked ahead (features check when they were booked)."""
    horizon = moment + UPCOMING if activity.kind == "meeting" else moment
    return activity.occurred_at <= horizon


async def load_timelines(
    *, session: AsyncSession, contacts: Sequence[Contact], at: Mapping[int, datetime]
) -> dict[int, tuple[LeadTimeline, OpenDeal | None]]:
    """Everything scoring may know about each contact as of its own moment, in a few queries."""
    ids = [c.id for c in contacts]
    moments = [at[c.id or 0] for c in contacts]
    start, end = min(moments) - HISTORY, max(moments) + UPCOMING
    activities: dict[int, list[AnyRow]] = {}
    for row in await query_rows(session, _TOUCHES, ids=ids, start=start, end=end):
        activities.setdefault(row.contact_id, []).append(row)
    deals = await _open_deals(session, contacts)
    title_changes: dict[int, list[datetime]] = {}
    for contact_id, changed_at in await query_rows(session, _TITLE_CHANGES, ids=ids):
        title_changes.setdefault(contact_id, []).append(changed_at)
    context = {row.id: row for row in await query_rows(session, _CONTEXT, ids=ids)}
    timelines = {}
    for contact in contacts:
        cid, moment = contact.id or 0, at[contact.id or 0]
        known, deal = context[cid], deals.get(cid)
        changed = [t for t in title_changes.get(cid, []) if t <= moment]
        timelines[cid] = (
            LeadTimeline(
                touches=tuple(touch_of(a) for a in activities.get(cid, []) if _known(a, moment)),
                seniority=seniority_of(contact.title),
                title_changed_at=max(changed, default=None),
                industry=known.industry,
                employees=known.employees,
                lead_source=contact.lead_source,
                deal_stage=deal.stage if deal else None,
                deal_created_at=deal.created_at if deal else None,
                open_issues=int(known.open_issues),
            ),
            deal,
        )
    return timelines


@dataclass(frozen=True, slots=True)
class Scored:
    """A fresh score with the previous one, and the snapshot that recorded it (id, moment)."""

    score: Score
    previous: int | None
    features: Features
    snapshot_id: int
    taken_at: datetime


_KEEP_SCORE = (
    update(_CONTACT)
    .where(_CONTACT.c.id == bindparam("cid"))
    .values(score=bindparam("new_score"), score_band=bindparam("new_band"),
            scored_at=bindparam("new_at"))
)  # fmt: skip
"""Each rescored contact's latest score, for many contacts in one executemany."""


async def rescore_contacts(
    *,
    session: AsyncSession,
    scorer: Scorer,
    contacts: Sequence[Contact],
    at: Mapping[int, datetime],
) -> dict[int, Scored]:
    """Score contacts, each as of its own moment; keep it on the contact and as a snapshot."""
    timelines = await load_timelines(session=session, contacts=contacts, at=at)
    scores: list[tuple[Contact, Features, Score]] = []
    snapshots: list[dict[str, Any]] = []
    moved: list[tuple[Contact, int | None, str | None]] = []
    kept: list[dict[str, Any]] = []
    for contact in contacts:
        cid = contact.id or 0
        timeline, deal = timelines[cid]
        features = compute_features(timeline, at[cid])
        score = scorer.score(features)
        scores.append((contact, features, score))
        snapshots.append(
            {"workspace_id": contact.workspace_id, "contact_id": cid,
             "deal_id": deal.id if deal else None, "features": features, "score": score.value,
             "model_version": score.model_version, "taken_at": at[cid],
             "reasons": [r.as_dict() for r in score.reasons.supporting + score.reasons.opposing]}
        )  # fmt: skip
        if score_moved(
            previous=contact.score, previous_band=contact.score_band, value=score.value,
            band=score.band, jump=scorer.config.jump,
        ):  # fmt: skip
            moved.append((contact, contact.score, contact.score_band))
        kept.append({"cid": cid, "new_score": score.value, "new_band": score.band,
                     "new_at": at[cid]})  # fmt: skip
    ids = await insert_rows(session, ScoreSnapshot, snapshots)
    results = {
        contact.id or 0: Scored(score=score, previous=contact.score, features=features,
                                snapshot_id=snapshot_id, taken_at=at[contact.id or 0])
        for (contact, features, score), snapshot_id in zip(scores, ids, strict=True)
    }  # fmt: skip
    for contact, _features, score in scores:
        for name, value in (
            ("score", score.value),
            ("score_band", score.band),
            ("scored_at", at[contact.id or 0]),
        ):
            set_committed_value(contact, name, value)  # written below, in one statement
    if kept:
        await (await session.connection()).execute(_KEEP_SCORE, kept)
    await emit_score_changes(session, moved)
    return results


async def rescore_contact(
    *, session: AsyncSession, scorer: Scorer, contact: Contact, at: datetime
) -> Scored:
    """Score one contact as of ``at`` (see :func:`rescore_contacts`)."""
    assert contact.id is not None
    scored = await rescore_contacts(
        session=session, scorer=scorer, contacts=[contact], at={contact.id: at}
    )
    return scored[contact.id]


async def rescore_ids(
    *, session: AsyncSession, scorer: Scorer, contact_ids: Collection[int], now: datetime
) -> dict[int, Scored]:
    """Rescore these live contacts as of their last touch (never later than ``now``), as after
    a merge or its undo, when a contact's timeline changed without a new activity."""
    if not contact_ids:
        return {}
    query = orm_select(Contact).where(
        col(Contact.id).in_(list(contact_ids)), col(Contact.merged_into_id).is_(None)
    )
    contacts = list((await session.exec(query)).all())
    if not contacts:
        return {}
    at = {c.id or 0: min(now, c.last_touch_at or now) for c in contacts}
    return await rescore_contacts(session=session, scorer=scorer, contacts=contacts, at=at)
