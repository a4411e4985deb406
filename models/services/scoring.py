"""Score a lead from its stored timeline and keep the result on the contact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.features import Features, compute_features
from learning.scorer import Score, Scorer
from learning.timeline import LeadTimeline, Touch, seniority_of
from models.account import Account
from models.activity import Activity, ActivityParticipant
from models.contact import Contact, ContactChange
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue
from models.learning import ScoreSnapshot

HISTORY = timedelta(days=120)


def touch_of(activity: Activity) -> Touch:
    """The scoring view of a stored activity."""
    facts = activity.facts
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
    )


async def open_deal_for(*, session: AsyncSession, contact: Contact) -> Deal | None:
    """The newest open deal the contact is on, else the newest open one of their account."""
    linked = (
        select(Deal)
        .join(DealContact, col(DealContact.deal_id) == col(Deal.id))
        .where(DealContact.contact_id == contact.id, Deal.outcome == "open")
        .order_by(col(Deal.created_at).desc())
    )
    deal = (await session.exec(linked)).first()
    if deal is None and contact.account_id is not None:
        by_account = (
            select(Deal)
            .where(Deal.account_id == contact.account_id, Deal.outcome == "open")
            .order_by(col(Deal.created_at).desc())
        )
        deal = (await session.exec(by_account)).first()
    return deal


async def load_timeline(
    *, session: AsyncSession, contact: Contact, deal: Deal | None, at: datetime
) -> LeadTimeline:
    """Everything scoring may know about a contact (and their open deal) as of ``at``."""
    activities = await session.exec(
        select(Activity)
        .join(ActivityParticipant, col(ActivityParticipant.activity_id) == col(Activity.id))
        .where(
            ActivityParticipant.contact_id == contact.id,
            col(Activity.occurred_at) > at - HISTORY,
            col(Activity.occurred_at) <= at,
        )
        .order_by(col(Activity.occurred_at), col(Activity.id))
    )
    title_changed = (
        await session.exec(
            select(func.max(ContactChange.changed_at)).where(
                ContactChange.contact_id == contact.id, ContactChange.field == "title"
            )
        )
    ).first()
    account = await session.get(Account, contact.account_id) if contact.account_id else None
    issues = (
        await session.exec(
            select(func.count()).where(
                HygieneIssue.entity_type == "contact",
                HygieneIssue.entity_id == contact.id,
                col(HygieneIssue.closed_at).is_(None),
            )
        )
    ).one()
    return LeadTimeline(
        touches=tuple(touch_of(a) for a in activities),
        seniority=seniority_of(contact.title),
        title_changed_at=title_changed,
        industry=account.industry if account else None,
        employees=account.employees if account else None,
        lead_source=contact.lead_source,
        deal_stage=deal.stage if deal else None,
        deal_created_at=deal.created_at if deal else None,
        open_issues=issues,
    )


@dataclass(frozen=True, slots=True)
class Scored:
    """A fresh score with the previous one and the snapshot that recorded it."""

    score: Score
    previous: int | None
    features: Features
    snapshot: ScoreSnapshot


async def rescore_contact(
    *, session: AsyncSession, scorer: Scorer, contact: Contact, at: datetime
) -> Scored:
    """Score a contact as of ``at``, store it on the contact and as a snapshot."""
    deal = await open_deal_for(session=session, contact=contact)
    timeline = await load_timeline(session=session, contact=contact, deal=deal, at=at)
    features = compute_features(timeline, at)
    score = scorer.score(features)
    assert contact.id is not None
    snapshot = ScoreSnapshot(
        workspace_id=contact.workspace_id,
        contact_id=contact.id,
        deal_id=deal.id if deal else None,
        features=features,
        score=score.value,
        model_version=score.model_version,
        reasons=[r.as_dict() for r in score.reasons.supporting + score.reasons.opposing],
        taken_at=at,
    )
    session.add(snapshot)
    previous = contact.score
    contact.score, contact.score_band, contact.scored_at = score.value, score.band, at
    session.add(contact)
    await session.flush()
    return Scored(score=score, previous=previous, features=features, snapshot=snapshot)
