"""The manager digest's content (SPEC C4.5): the facts one person's daily digest shows.

Who it covers: an admin sees everyone; a manager sees their team (themselves and the
users whose ``manager_id`` is them); a rep asking on demand sees their own records.

Deals at risk are defined in :mod:`models.services.digest_risk`.

Hygiene by rep is :func:`models.services.hygiene.hygiene_scores`: per owner, the open
issues on their records (live contacts, open deals) and the share of those with none.

>>> _bins([0, 9, 10, 99, 100])
[2, 1, 0, 0, 0, 0, 0, 0, 0, 2]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, true
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.config import CrmConfig
from models.contact import Contact
from models.deal import Deal
from models.feedback import Feedback
from models.learning import ScoreSnapshot
from models.services.digest_risk import flag_deals
from models.services.hygiene import hygiene_scores
from models.services.model_health import model_health
from models.workspace import User

DIGEST_ROLES = ("manager", "admin")


@dataclass(frozen=True, slots=True)
class Audience:
    """Whose records a digest covers: ``everyone`` (admin), ``team`` (manager) or ``own``."""

    recipient: User
    scope: str
    members: tuple[User, ...]

    @property
    def owner_ids(self) -> frozenset[int] | None:
        """The owners covered, or None for everyone."""
        if self.scope == "everyone":
            return None
        return frozenset(m.id for m in self.members if m.id is not None)


async def audience_for(*, session: AsyncSession, user: User) -> Audience:
    """The audience of ``user``'s digest, from their role and their reports."""
    everyone = (
        await session.exec(select(User).where(User.workspace_id == user.workspace_id))
    ).all()
    if user.role == "admin":
        return Audience(user, "everyone", tuple(everyone))
    if user.role == "manager":
        team = tuple(u for u in everyone if u.id == user.id or u.manager_id == user.id)
        return Audience(user, "team", team)
    return Audience(user, "own", (user,))


async def digest_recipients(*, session: AsyncSession, workspace_id: int) -> list[User]:
    """Managers and admins reachable in Slack: the people who get a daily digest."""
    query = (
        select(User)
        .where(
            User.workspace_id == workspace_id,
            col(User.role).in_(DIGEST_ROLES),
            col(User.slack_user_id).is_not(None),
        )
        .order_by(col(User.id))
    )
    return list((await session.exec(query)).all())


async def user_by_slack_id(
    *, session: AsyncSession, workspace_id: int, slack_user_id: str
) -> User | None:
    """A team member by Slack user id."""
    query = select(User).where(
        User.workspace_id == workspace_id, User.slack_user_id == slack_user_id
    )
    return (await session.exec(query)).first()


def _owned_by(column: Any, owners: frozenset[int] | None) -> ColumnElement[bool]:
    return true() if owners is None else col(column).in_(owners)


def _bins(scores: list[int]) -> list[int]:
    counts = [0] * 10
    for score in scores:
        counts[min(9, max(0, score) // 10)] += 1
    return counts


async def build_digest(
    *,
    session: AsyncSession,
    audience: Audience,
    config: CrmConfig,
    now: datetime,
    today: date,
) -> dict[str, Any]:
    """Everything the digest shows, JSON-ready (it is stored as the outbox message's payload)."""
    workspace_id = audience.recipient.workspace_id
    slack_ids = {u.id: u.slack_user_id for u in audience.members}
    context = _Context(session, workspace_id, audience.owner_ids, slack_ids, config, now)
    health = await model_health(
        session=session, workspace_id=workspace_id, min_outcomes=config.scoring.min_outcomes
    )
    return {
        "recipient": audience.recipient.slack_user_id,
        "scope": audience.scope,
        "team_size": len(audience.members),
        "date": today.isoformat(),
        "hot_leads": await context.hot_leads(),
        "at_risk": await context.deals_at_risk(today),
        "hygiene": await context.hygiene(),
        "model": _model_summary(health, since=now - timedelta(days=1)),
        "feedback": await context.feedback(),
        "pipeline": await context.pipeline(),
        "score_bins": await context.score_bins(),
        "bands": {"warm": config.scoring.warm, "hot": config.scoring.hot},
    }


def _model_summary(health: dict[str, Any], *, since: datetime) -> dict[str, Any]:
    recent = [event for event in health["drift"] if event["detected_at"] >= since]
    return {
        "version": health["model_version"],
        "outcomes": health["outcomes"],
        "evaluated": health["evaluated"],
        "accuracy": health["accuracy"],
        "auc": health["auc"],
        "low_confidence": health["low_confidence"],
        "drift_total": health["drift_count"],
        "drift_recent": [
            {"version": e["model_version"], "changed": list(e["detail"].get("changed", []))[:3]}
            for e in recent
        ],
    }


@dataclass(frozen=True, slots=True)
class _Context:
    session: AsyncSession
    workspace_id: int
    owners: frozenset[int] | None
    slack_ids: dict[int | None, str | None]
    config: CrmConfig
    now: datetime

    def owner(self, owner_id: int | None) -> str | None:
        return self.slack_ids.get(owner_id) if owner_id is not None else None

    async def hot_leads(self) -> dict[str, Any]:
        where = (
            Contact.workspace_id == self.workspace_id,
            Contact.score_band == "hot",
            col(Contact.merged_into_id).is_(None),
            _owned_by(Contact.owner_id, self.owners),
        )
        total = (await self.session.exec(select(func.count()).where(*where))).one()
        rows = await self.session.exec(
            select(Contact, Account.name)
            .join(Account, col(Account.id) == Contact.account_id, isouter=True)
            .where(*where)
            .order_by(col(Contact.score).desc(), col(Contact.id))
            .limit(self.config.digest.max_items)
        )
        items = [
            {
                "contact_id": contact.id,
                "name": contact.name,
                "company": company,
                "score": contact.score,
                "owner": self.owner(contact.owner_id),
                "reason": await self._top_reason(contact),
            }
            for contact, company in rows.all()
        ]
        return {"total": int(total), "items": items}

    async def _top_reason(self, contact: Contact) -> str | None:
        latest = await self.session.exec(
            select(ScoreSnapshot.reasons)
            .where(ScoreSnapshot.contact_id == contact.id)
            .order_by(col(ScoreSnapshot.taken_at).desc(), col(ScoreSnapshot.id).desc())
            .limit(1)
        )
        reasons = [r for r in latest.first() or [] if float(r.get("effect", 0)) > 0]
        best = max(reasons, key=lambda r: float(r["effect"]), default=None)
        return str(best["text"]) if best else None

    async def deals_at_risk(self, today: date) -> dict[str, Any]:
        deals = (
            await self.session.exec(
                select(Deal).where(
                    Deal.workspace_id == self.workspace_id,
                    Deal.outcome == "open",
                    _owned_by(Deal.owner_id, self.owners),
                )
            )
        ).all()
        flagged = await flag_deals(
            session=self.session, deals=deals, config=self.config, now=self.now, today=today
        )
        items = [
            {
                "deal_id": deal.id,
                "name": deal.name,
                "stage": deal.stage,
                "amount": deal.amount,
                "close_date": deal.close_date.isoformat() if deal.close_date else None,
                "owner": self.owner(deal.owner_id),
                "reasons": reasons,
            }
            for deal, reasons in flagged[: self.config.digest.max_items]
        ]
        return {"total": len(flagged), "items": items}

    async def hygiene(self) -> list[dict[str, Any]]:
        scores = await hygiene_scores(self.session, self.workspace_id, self.owners)
        worst_first = sorted(scores.items(), key=lambda item: (item[1].share, item[0]))
        return [
            {
                "owner": self.owner(owner_id),
                "open_issues": score.open_issues,
                "records": score.records,
                "clean_share": score.share,
            }
            for owner_id, score in worst_first[: self.config.digest.max_items]
        ]

    async def feedback(self) -> dict[str, Any]:
        where: list[ColumnElement[bool]] = [
            col(Feedback.workspace_id) == self.workspace_id,
            col(Feedback.reversed_at).is_(None),
            col(Feedback.created_at) >= self.now - timedelta(days=1),
            col(Feedback.created_at) <= self.now,
        ]
        if self.owners is not None:
            where.append(col(Feedback.slack_user_id).in_([s for s in self.slack_ids.values() if s]))
        rows = await self.session.exec(
            select(Feedback.slack_user_id, Feedback.label, func.count())
            .where(*where)
            .group_by(col(Feedback.slack_user_id), col(Feedback.label))
        )
        by_user: dict[str, dict[str, int]] = defaultdict(lambda: {"right": 0, "wrong": 0})
        for user, label, count in rows.all():
            by_user[user]["right" if label else "wrong"] += int(count)
        return {
            "right": sum(v["right"] for v in by_user.values()),
            "wrong": sum(v["wrong"] for v in by_user.values()),
            "by_user": [{"user": user, **counts} for user, counts in sorted(by_user.items())],
        }

    async def pipeline(self) -> list[dict[str, Any]]:
        rows = await self.session.exec(
            select(Deal.stage, func.count(), func.sum(Deal.amount))
            .where(
                Deal.workspace_id == self.workspace_id,
                Deal.outcome == "open",
                _owned_by(Deal.owner_id, self.owners),
            )
            .group_by(col(Deal.stage))
            .order_by(col(Deal.stage))
        )
        return [
            {"stage": stage, "count": int(n), "amount": float(total or 0)}
            for stage, n, total in rows.all()
        ]

    async def score_bins(self) -> list[int]:
        scores = await self.session.exec(
            select(Contact.score).where(
                Contact.workspace_id == self.workspace_id,
                col(Contact.merged_into_id).is_(None),
                col(Contact.score).is_not(None),
                _owned_by(Contact.owner_id, self.owners),
            )
        )
        return _bins([int(s) for s in scores.all() if s is not None])
