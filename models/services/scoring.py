"""Score a lead from its stored timeline and keep the result on the contact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.features import UPCOMING, Features, compute_features
from learning.scorer import Score, Scorer
from learning.timeline import LeadTimeline, Touch, seniority_of
from models.account import Account
from models.activity import Activity, ActivityParticipant
from models.contact import Contact, ContactChange
from models.db import insert_rows
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue
from models.learning import ScoreSnapshot
from models.services.outbound import emit_score_changes, score_moved

HISTORY = timedelta(days=120)


def touch_of(activity: Activity) -> Touch:
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


async def _open_deals(session: AsyncSession, contacts: Sequence[Contact]) -> dict[int, Deal]:
    """Each contact's newest open deal, else the newest open one of their account."""
    ids = [c.id for c in contacts]
    linked = await session.exec(
        select(DealContact.contact_id, Deal)
        .join(Deal, col(DealContact.deal_id) == col(Deal.id))
        .where(col(DealContact.contact_id).in_(ids), Deal.outcome == "open")
        .order_by(col(Deal.created_at))
    )
    found: dict[int, Deal] = dict(linked.all())
    accounts = {c.account_id for c in contacts if c.id not in found and c.account_id is not None}
    if accounts:
        by_account = await session.exec(
            select(Deal)
            .where(col(Deal.account_id).in_(accounts), Deal.outcome == "open")
            .order_by(col(Deal.created_at))
        )
        newest = {deal.account_id: deal for deal in by_account.all()}
        for contact in contacts:
            if contact.id not in found and contact.account_id in newest:
                found[contact.id or 0] = newest[contact.account_id]
    return found


async def _touches(
    session: AsyncSession, ids: list[int | None], start: datetime, end: datetime
) -> dict[int, list[Activity]]:
    rows = await session.exec(
        select(ActivityParticipant.contact_id, Activity)
        .join(Activity, col(ActivityParticipant.activity_id) == col(Activity.id))
        .where(
            col(ActivityParticipant.contact_id).in_(ids),
            col(Activity.occurred_at) > start - HISTORY,
            col(Activity.occurred_at) <= end,
        )
        .order_by(col(Activity.occurred_at), col(Activity.id))
    )
    grouped: dict[int, list[Activity]] = {}
    for contact_id, activity in rows.all():
        grouped.setdefault(contact_id, []).append(activity)
    return grouped


def _known(activity: Activity, moment: datetime) -> bool:
    """Past activities, and meetings booked ahead (features check when they were booked)."""
    horizon = moment + UPCOMING if activity.kind == "meeting" else moment
    return activity.occurred_at <= horizon


async def load_timelines(
    *, session: AsyncSession, contacts: Sequence[Contact], at: Mapping[int, datetime]
) -> dict[int, tuple[LeadTimeline, Deal | None]]:
    """Everything scoring may know about each contact as of its own moment, in a few queries."""
    ids = [c.id for c in contacts]
    moments = [at[c.id or 0] for c in contacts]
    activities = await _touches(session, ids, min(moments), max(moments) + UPCOMING)
    deals = await _open_deals(session, contacts)
    changes = await session.exec(
        select(ContactChange.contact_id, ContactChange.changed_at).where(
            col(ContactChange.contact_id).in_(ids), ContactChange.field == "title"
        )
    )
    title_changes: dict[int, list[datetime]] = {}
    for contact_id, changed_at in changes.all():
        title_changes.setdefault(contact_id, []).append(changed_at)
    account_ids = {c.account_id for c in contacts if c.account_id is not None}
    accounts = {
        a.id: a
        for a in (await session.exec(select(Account).where(col(Account.id).in_(account_ids)))).all()
    }
    issues = dict(
        (
            await session.exec(
                select(HygieneIssue.entity_id, func.count())
                .where(
                    HygieneIssue.entity_type == "contact",
                    col(HygieneIssue.entity_id).in_(ids),
                    col(HygieneIssue.closed_at).is_(None),
                )
                .group_by(col(HygieneIssue.entity_id))
            )
        ).all()
    )
    timelines = {}
    for contact in contacts:
        cid, moment = contact.id or 0, at[contact.id or 0]
        account, deal = accounts.get(contact.account_id), deals.get(cid)
        changed = [t for t in title_changes.get(cid, []) if t <= moment]
        timelines[cid] = (
            LeadTimeline(
                touches=tuple(touch_of(a) for a in activities.get(cid, []) if _known(a, moment)),
                seniority=seniority_of(contact.title),
                title_changed_at=max(changed, default=None),
                industry=account.industry if account else None,
                employees=account.employees if account else None,
                lead_source=contact.lead_source,
                deal_stage=deal.stage if deal else None,
                deal_created_at=deal.created_at if deal else None,
                open_issues=int(issues.get(cid, 0)),
            ),
            deal,
        )
    return timelines


@dataclass(frozen=True, slots=True)
class Scored:
    """A fresh score with the previous one and the snapshot that recorded it."""

    score: Score
    previous: int | None
    features: Features
    snapshot: ScoreSnapshot


async def rescore_contacts(
    *,
    session: AsyncSession,
    scorer: Scorer,
    contacts: Sequence[Contact],
    at: Mapping[int, datetime],
) -> dict[int, Scored]:
    """Score contacts, each as of its own moment; keep it on the contact and as a snapshot."""
    timelines = await load_timelines(session=session, contacts=contacts, at=at)
    results: dict[int, Scored] = {}
    snapshots: list[ScoreSnapshot] = []
    moved: list[tuple[Contact, int | None, str | None]] = []
    for contact in contacts:
        cid = contact.id or 0
        timeline, deal = timelines[cid]
        features = compute_features(timeline, at[cid])
        score = scorer.score(features)
        snapshot = ScoreSnapshot(
            workspace_id=contact.workspace_id,
            contact_id=cid,
            deal_id=deal.id if deal else None,
            features=features,
            score=score.value,
            model_version=score.model_version,
            reasons=[r.as_dict() for r in score.reasons.supporting + score.reasons.opposing],
            taken_at=at[cid],
        )
        snapshots.append(snapshot)
        results[cid] = Scored(
            score=score, previous=contact.score, features=features, snapshot=snapshot
        )
        if score_moved(
            previous=contact.score, previous_band=contact.score_band, value=score.value,
            band=score.band, jump=scorer.config.jump,
        ):  # fmt: skip
            moved.append((contact, contact.score, contact.score_band))
        contact.score, contact.score_band, contact.scored_at = score.value, score.band, at[cid]
        session.add(contact)
    ids = await insert_rows(
        session, ScoreSnapshot, [row.model_dump(exclude={"id"}) for row in snapshots]
    )
    for snapshot, snapshot_id in zip(snapshots, ids, strict=True):
        snapshot.id = snapshot_id
    await session.flush()
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
