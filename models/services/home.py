"""What a person's App Home shows (SPEC C4.4): their hot leads with reasons, hygiene tasks,
recent feedback and the model's confidence; managers also see their team, rep by rep.

Lists are cut to a few items and carry the full count, so the page can say "and N more".
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.config import ScoringConfig
from models.contact import Contact
from models.feedback import Feedback
from models.hygiene import HygieneIssue
from models.learning import ScoreSnapshot
from models.services.access import can_see_owner, reports_of, viewer_of, workspace_users
from models.services.model_health import model_health
from models.services.profile_parts import issue_view
from models.services.profile_types import IssueView, Person
from models.workspace import User

HOT_LIMIT = 10
ISSUE_LIMIT = 10
FEEDBACK_LIMIT = 5
REASONS_PER_LEAD = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class HotLead(_Frozen):
    """A lead above the hot threshold, with the model's strongest reasons."""

    contact_id: int
    name: str
    company: str | None
    score: int
    reasons: list[str]


class FeedbackItem(_Frozen):
    """A verdict the person gave on a nudge, and what it did to the score."""

    signal: str
    label: bool
    contact_name: str | None
    score_before: int | None
    score_after: int | None
    at: datetime
    taken_back: bool


class Confidence(_Frozen):
    """How far the model may be trusted yet."""

    model_version: int
    outcomes: int
    min_outcomes: int
    low_confidence: bool
    accuracy: float | None


class TeamRow(_Frozen):
    """One report of a manager: hot leads and their part of the team's open data problems."""

    person: Person
    hot_leads: int
    open_issues: int
    issue_share: float | None


class HomeData(_Frozen):
    """Everything one person's App Home shows."""

    person: Person
    role: str
    hot_leads: list[HotLead]
    hot_total: int
    issues: list[IssueView]
    issues_total: int
    feedback: list[FeedbackItem]
    confidence: Confidence
    team: list[TeamRow]


def _person(user: User) -> Person:
    return Person(user_id=user.id or 0, slack_user_id=user.slack_user_id, name=user.name)


def team_of(user: User, users: list[User]) -> list[User]:
    """Whose numbers a person's home shows beside their own: a manager's reports; for an
    admin without reports, everyone else; nobody for a rep."""
    if user.role not in ("manager", "admin") or user.id is None:
        return []
    below = reports_of(users, user.id)
    if not below and user.role == "admin":
        below = {u.id for u in users if u.id is not None and u.id != user.id}
    return sorted((u for u in users if u.id in below), key=lambda u: u.name.casefold())


async def _hot_leads(session: AsyncSession, user: User, hot: int) -> tuple[list[HotLead], int]:
    mine = (
        Contact.owner_id == user.id,
        col(Contact.merged_into_id).is_(None),
        col(Contact.score) >= hot,
    )
    total = (await session.exec(select(func.count()).select_from(Contact).where(*mine))).one()
    rows = (
        await session.exec(
            select(Contact, Account.name)
            .outerjoin(Account, col(Account.id) == col(Contact.account_id))
            .where(*mine)
            .order_by(col(Contact.score).desc(), col(Contact.id))
            .limit(HOT_LIMIT)
        )
    ).all()
    ids = [c.id for c, _ in rows]
    latest = select(func.max(ScoreSnapshot.id)).where(col(ScoreSnapshot.contact_id).in_(ids))
    snapshots = (
        await session.exec(
            select(ScoreSnapshot).where(
                col(ScoreSnapshot.id).in_(latest.group_by(col(ScoreSnapshot.contact_id)))
            )
        )
    ).all()
    reasons = {
        s.contact_id: [str(r["text"]) for r in s.reasons if float(r.get("effect", 0)) > 0]
        for s in snapshots
    }
    leads = [
        HotLead(
            contact_id=c.id or 0,
            name=c.name,
            company=company,
            score=c.score or 0,
            reasons=reasons.get(c.id or 0, [])[:REASONS_PER_LEAD],
        )
        for c, company in rows
    ]
    return leads, int(total)


async def _issues(session: AsyncSession, user: User) -> tuple[list[IssueView], int]:
    mine = (HygieneIssue.owner_id == user.id, col(HygieneIssue.closed_at).is_(None))
    total = (await session.exec(select(func.count()).select_from(HygieneIssue).where(*mine))).one()
    rows = await session.exec(
        select(HygieneIssue)
        .where(*mine)
        .order_by(col(HygieneIssue.opened_at), col(HygieneIssue.id))
        .limit(ISSUE_LIMIT)
    )
    issues = [issue_view(i) for i in rows.all()]
    return issues, int(total)


async def _feedback(session: AsyncSession, user: User, users: list[User]) -> list[FeedbackItem]:
    if not user.slack_user_id:
        return []
    viewer = viewer_of(user, users)
    rows = await session.exec(
        select(Feedback, Contact)
        .outerjoin(Contact, col(Contact.id) == col(Feedback.contact_id))
        .where(
            Feedback.workspace_id == user.workspace_id,
            Feedback.slack_user_id == user.slack_user_id,
        )
        .order_by(col(Feedback.created_at).desc(), col(Feedback.id).desc())
        .limit(FEEDBACK_LIMIT)
    )
    return [
        FeedbackItem(
            signal=f.signal,
            label=f.label,
            contact_name=c.name if c is not None and can_see_owner(viewer, c.owner_id) else None,
            score_before=f.score_before,
            score_after=f.score_after,
            at=f.created_at,
            taken_back=f.reversed_at is not None,
        )
        for f, c in rows.all()
    ]


async def _team_rows(session: AsyncSession, team: list[User], hot: int) -> list[TeamRow]:
    ids = [u.id for u in team]
    hot_counts = dict(
        (
            await session.exec(
                select(Contact.owner_id, func.count())
                .where(
                    col(Contact.owner_id).in_(ids),
                    col(Contact.merged_into_id).is_(None),
                    col(Contact.score) >= hot,
                )
                .group_by(col(Contact.owner_id))
            )
        ).all()
    )
    issue_counts = dict(
        (
            await session.exec(
                select(HygieneIssue.owner_id, func.count())
                .where(col(HygieneIssue.owner_id).in_(ids), col(HygieneIssue.closed_at).is_(None))
                .group_by(col(HygieneIssue.owner_id))
            )
        ).all()
    )
    team_issues = sum(int(n) for n in issue_counts.values())
    return [
        TeamRow(
            person=_person(u),
            hot_leads=int(hot_counts.get(u.id, 0)),
            open_issues=int(issue_counts.get(u.id, 0)),
            issue_share=int(issue_counts.get(u.id, 0)) / team_issues if team_issues else None,
        )
        for u in team
    ]


async def home_for(
    *, session: AsyncSession, workspace_id: int, user_id: int, scoring: ScoringConfig
) -> HomeData | None:
    """The home of one team member, None if they are not on this workspace's team."""
    users = await workspace_users(session=session, workspace_id=workspace_id)
    user = next((u for u in users if u.id == user_id), None)
    if user is None:
        return None
    leads, hot_total = await _hot_leads(session, user, scoring.hot)
    issues, issues_total = await _issues(session, user)
    health = await model_health(
        session=session, workspace_id=workspace_id, min_outcomes=scoring.min_outcomes
    )
    return HomeData(
        person=_person(user),
        role=user.role,
        hot_leads=leads,
        hot_total=hot_total,
        issues=issues,
        issues_total=issues_total,
        feedback=await _feedback(session, user, users),
        confidence=Confidence(
            model_version=health["model_version"],
            outcomes=health["outcomes"],
            min_outcomes=health["min_outcomes"],
            low_confidence=health["low_confidence"],
            accuracy=health["accuracy"],
        ),
        team=await _team_rows(session, team_of(user, users), scoring.hot),
    )
