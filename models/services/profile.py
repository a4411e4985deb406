"""The unified profile (SPEC C2.3): one read model for ``/lead``, ``/deal``, App Home and the API.

Look-ups always take a :class:`~models.services.access.Viewer` and return only what it may
see. Results are pydantic models: ``model_dump(mode="json")`` gives the API's JSON.

- :func:`find_contacts` — contacts matching a name, email or company, best first;
- :func:`load_profile` — identity, company, owner, deals, timeline, score, open issues;
- :func:`timeline` / :func:`timeline_size` — a contact's activities, a page at a time;
- :func:`~models.services.pipeline.find_deals` / :func:`~models.services.pipeline.load_deal`
  — the same for deals (``/deal``), beside the pipeline.

The shapes returned are in :mod:`models.services.profile_types`.

Matching is case-insensitive; an exact email or name ranks first, then a name starting with
the words, then a company match, then anything containing them; ties go to the higher score.

>>> match_rank("dana", name="Dana Whitfield", emails=[], company=None)
2
>>> match_rank("dana@x.example", name="Dana", emails=["dana@x.example"], company=None)
0
>>> match_rank("acme", name="Ann Lee", emails=["ann@acme.example"], company="Acme Corp")
4
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import band_of
from learning.store import OUTCOME_SOURCES
from models.account import Account
from models.activity import Activity, ActivityParticipant
from models.config import ScoringConfig
from models.contact import Contact, ContactIdentity
from models.deal import Deal, DealContact
from models.learning import LearningLogEntry, ScoreSnapshot
from models.services.access import AccessDeniedError, Viewer, can_see_contact, visible
from models.services.profile_parts import (
    company_of,
    contact_match,
    deal_summaries,
    emails_of,
    open_issues,
    people_by_id,
)
from models.services.profile_types import (
    ContactMatch,
    Profile,
    ScoreView,
    TimelineItem,
)

TIMELINE_LIMIT = 15
CANDIDATES = 200
SUMMARY_CHARS = 160


def match_rank(query: str, *, name: str, emails: list[str], company: str | None) -> int:
    """0 exact email, 1 exact name, 2 name starts with it, 3 a word of the name does,
    4 company match, 5 anything else that contained it (an email fragment)."""
    q = query.casefold()
    lowered = name.casefold()
    if q in (e.casefold() for e in emails):
        return 0
    if lowered == q:
        return 1
    if lowered.startswith(q):
        return 2
    if any(word.startswith(q) for word in lowered.split()):
        return 3
    if company and q in company.casefold():
        return 4
    return 5


def like_pattern(query: str) -> str:
    """A LIKE pattern finding ``query`` anywhere, its wildcards taken literally (escape ``\\``)."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def find_contacts(
    *, session: AsyncSession, workspace_id: int, query: str, viewer: Viewer, limit: int = 10
) -> list[ContactMatch]:
    """Contacts the viewer may see whose name, email or company contains ``query``."""
    query = query.strip()
    if not query:
        return []
    pattern = like_pattern(query)
    by_email = select(ContactIdentity.contact_id).where(
        ContactIdentity.workspace_id == workspace_id,
        ContactIdentity.kind == "email",
        col(ContactIdentity.value).ilike(pattern, escape="\\"),
    )
    rows = await session.exec(
        select(Contact, Account.name)
        .outerjoin(Account, col(Account.id) == col(Contact.account_id))
        .where(
            Contact.workspace_id == workspace_id,
            col(Contact.merged_into_id).is_(None),
            visible(viewer, Contact.owner_id),
            or_(
                col(Contact.name).ilike(pattern, escape="\\"),
                col(Account.name).ilike(pattern, escape="\\"),
                col(Account.domain).ilike(pattern, escape="\\"),
                col(Contact.id).in_(by_email),
            ),
        )
        .order_by(col(Contact.score).desc(), col(Contact.id))
        .limit(CANDIDATES)
    )
    found = rows.all()
    emails = await emails_of(session, [c.id for c, _ in found if c.id is not None])
    matches = [
        (
            match_rank(query, name=c.name, emails=emails.get(c.id or 0, []), company=company),
            -(c.score or -1),
            contact_match(c, company, emails),
        )
        for c, company in found
    ]
    matches.sort(key=lambda m: (m[0], m[1], m[2].name.casefold(), m[2].contact_id))
    return [m[2] for m in matches[:limit]]


def summary_of(activity: Activity) -> str:
    """A one-line description: the subject, else the start of the text, else what happened."""
    if activity.subject:
        return activity.subject[:SUMMARY_CHARS]
    if activity.body:
        return " ".join(activity.body.split())[:SUMMARY_CHARS]
    minutes = int(activity.facts.get("duration_s") or 0) // 60
    detail = activity.facts.get("page") or activity.facts.get("event")
    if activity.kind == "call" and minutes:
        return f"call, {minutes} min"
    return f"{activity.kind}: {detail}" if detail else activity.kind


def _on_timeline(contact_id: int) -> ColumnElement[bool]:
    """Activities the contact took part in."""
    return col(Activity.id).in_(
        select(ActivityParticipant.activity_id).where(ActivityParticipant.contact_id == contact_id)
    )


def _timeline_item(activity: Activity) -> TimelineItem:
    return TimelineItem(
        activity_id=activity.id or 0,
        source=activity.source,
        kind=activity.kind,
        occurred_at=activity.occurred_at,
        direction=activity.direction,
        summary=summary_of(activity),
    )


async def timeline_size(session: AsyncSession, contact_id: int) -> int:
    """How many activities are on a contact's timeline."""
    count = select(func.count()).select_from(Activity).where(_on_timeline(contact_id))
    return int((await session.exec(count)).one())


async def timeline(
    session: AsyncSession, contact_id: int, *, offset: int, limit: int
) -> list[TimelineItem]:
    """``limit`` of a contact's activities from ``offset``, newest first."""
    rows = await session.exec(
        select(Activity)
        .where(_on_timeline(contact_id))
        .order_by(col(Activity.occurred_at).desc(), col(Activity.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return [_timeline_item(a) for a in rows.all()]


async def _score(
    session: AsyncSession, workspace_id: int, contact_id: int, scoring: ScoringConfig
) -> ScoreView | None:
    snapshot = (
        await session.exec(
            select(ScoreSnapshot)
            .where(ScoreSnapshot.contact_id == contact_id)
            .order_by(col(ScoreSnapshot.taken_at).desc(), col(ScoreSnapshot.id).desc())
            .limit(1)
        )
    ).first()
    if snapshot is None:
        return None
    outcomes = (
        await session.exec(
            select(func.count())
            .select_from(LearningLogEntry)
            .where(
                LearningLogEntry.workspace_id == workspace_id,
                col(LearningLogEntry.source).in_(OUTCOME_SOURCES),
            )
        )
    ).one()
    reasons = snapshot.reasons
    return ScoreView(
        value=snapshot.score,
        band=band_of(snapshot.score, scoring),
        model_version=snapshot.model_version,
        taken_at=snapshot.taken_at,
        low_confidence=int(outcomes) < scoring.min_outcomes,
        reasons_for=[str(r["text"]) for r in reasons if float(r.get("effect", 0)) > 0],
        reasons_against=[str(r["text"]) for r in reasons if float(r.get("effect", 0)) < 0],
    )


async def visible_contact(
    *, session: AsyncSession, workspace_id: int, contact_id: int, viewer: Viewer
) -> Contact | None:
    """The contact (followed through merges), None if absent.

    Raises :class:`AccessDeniedError` if the viewer may not see it.
    """
    contact = await session.get(Contact, contact_id)
    seen = {contact_id}
    while contact is not None and contact.merged_into_id is not None:
        if contact.merged_into_id in seen:
            break
        seen.add(contact.merged_into_id)
        contact = await session.get(Contact, contact.merged_into_id)
    if contact is None or contact.workspace_id != workspace_id:
        return None
    if not can_see_contact(viewer, contact):
        raise AccessDeniedError("contact")
    return contact


async def load_profile(
    *,
    session: AsyncSession,
    workspace_id: int,
    contact_id: int,
    viewer: Viewer,
    scoring: ScoringConfig,
) -> Profile | None:
    """The profile of a contact, None if there is none; :class:`AccessDeniedError` if hidden.

    Deals the viewer may not see are left out of the profile.
    """
    contact = await visible_contact(
        session=session, workspace_id=workspace_id, contact_id=contact_id, viewer=viewer
    )
    if contact is None or contact.id is None:
        return None
    identities = (
        await session.exec(
            select(ContactIdentity)
            .where(ContactIdentity.contact_id == contact.id)
            .order_by(col(ContactIdentity.id))
        )
    ).all()
    account = await session.get(Account, contact.account_id) if contact.account_id else None
    linked = select(DealContact.deal_id).where(DealContact.contact_id == contact.id)
    deals = (
        await session.exec(
            select(Deal)
            .where(col(Deal.id).in_(linked), visible(viewer, Deal.owner_id))
            .order_by(col(Deal.outcome) != "open", col(Deal.created_at).desc())
        )
    ).all()
    owners = await people_by_id(session, {contact.owner_id})
    return Profile(
        contact_id=contact.id,
        name=contact.name,
        title=contact.title,
        lead_source=contact.lead_source,
        emails=[i.value for i in identities if i.kind == "email"],
        phones=[i.value for i in identities if i.kind == "phone"],
        company=company_of(account),
        owner=owners.get(contact.owner_id or 0),
        deals=await deal_summaries(session, list(deals)),
        timeline=await timeline(session, contact.id, offset=0, limit=TIMELINE_LIMIT),
        timeline_total=await timeline_size(session, contact.id),
        score=await _score(session, workspace_id, contact.id, scoring),
        issues=await open_issues(
            session=session,
            workspace_id=workspace_id,
            contact_ids=[contact.id],
            deal_ids=[d.id for d in deals if d.id is not None],
        ),
    )
