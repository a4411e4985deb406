"""When an App Home must be republished: a signature of the facts it shows, per person.

A home shows a person's leads, hygiene issues, feedback, the nudges sent to them, the
model's outcomes and, for managers, their team's. :func:`home_signatures` reads the few
aggregates that change whenever any of those does (latest scoring, open/closed issues,
feedback given or taken back, nudge sent, outcomes learned, team membership) in a handful of
grouped queries for the whole workspace, and digests them per person. The publisher keeps
the signature it last published in :class:`~models.home.HomeState` and republishes a home
whose signature moved. No writer has to remember to flag anything: any committed change,
from any process, is seen on the next pass, and a failed publish simply stays owed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.store import OUTCOME_SOURCES
from models.contact import Contact
from models.feedback import Feedback
from models.home import HomeState
from models.hygiene import HygieneIssue
from models.learning import LearningLogEntry
from models.nudge import Nudge
from models.services.access import workspace_users
from models.services.home import team_of
from models.types import utcnow
from models.workspace import User

MAX_BACKOFF_S = 300.0


def _rows(result: Sequence[Any]) -> dict[Any, list[str]]:
    return {row[0]: [str(v) for v in row[1:]] for row in result}


async def _signals(session: AsyncSession, workspace_id: int, hot: int) -> dict[str, Any]:
    contacts = await session.exec(
        select(
            Contact.owner_id,
            func.count(),
            func.sum(case((col(Contact.score) >= hot, 1), else_=0)),
            func.max(Contact.scored_at),
        )
        .where(Contact.workspace_id == workspace_id, col(Contact.merged_into_id).is_(None))
        .group_by(col(Contact.owner_id))
    )
    issues = await session.exec(
        select(
            HygieneIssue.owner_id,
            func.count(),
            func.sum(case((col(HygieneIssue.closed_at).is_(None), 1), else_=0)),
            func.max(HygieneIssue.closed_at),
        )
        .where(HygieneIssue.workspace_id == workspace_id)
        .group_by(col(HygieneIssue.owner_id))
    )
    feedback = await session.exec(
        select(
            Feedback.slack_user_id,
            func.sum(case((col(Feedback.reversed_at).is_(None), 1), else_=0)),
            func.max(Feedback.created_at),
            func.max(Feedback.reversed_at),
        )
        .where(Feedback.workspace_id == workspace_id)
        .group_by(col(Feedback.slack_user_id))
    )
    nudges = await session.exec(
        select(Nudge.recipient_id, func.max(Nudge.sent_at))
        .where(Nudge.workspace_id == workspace_id)
        .group_by(col(Nudge.recipient_id))
    )
    model = await session.exec(
        select(
            func.max(LearningLogEntry.model_version),
            func.sum(case((col(LearningLogEntry.source).in_(OUTCOME_SOURCES), 1), else_=0)),
        ).where(LearningLogEntry.workspace_id == workspace_id)
    )
    return {
        "contacts": _rows(contacts.all()),
        "issues": _rows(issues.all()),
        "feedback": _rows(feedback.all()),
        "nudges": _rows(nudges.all()),
        "outcomes": [str(v) for v in model.one()][1:],
    }


def _of_person(user: User, signals: dict[str, Any]) -> list[Any]:
    return [
        user.id,
        user.role,
        user.name,
        signals["contacts"].get(user.id),
        signals["issues"].get(user.id),
        signals["feedback"].get(user.slack_user_id),
        signals["nudges"].get(user.id),
    ]


async def home_signatures(*, session: AsyncSession, workspace_id: int, hot: int) -> dict[int, str]:
    """A digest per team member of everything their home shows; equal digests, same home."""
    users = await workspace_users(session=session, workspace_id=workspace_id)
    signals = await _signals(session, workspace_id, hot)
    digests = {}
    for user in users:
        document = [
            _of_person(user, signals),
            [_of_person(member, signals) for member in team_of(user, users)],
            signals["outcomes"],
        ]
        encoded = json.dumps(document, separators=(",", ":"), default=str)
        digests[user.id or 0] = hashlib.sha256(encoded.encode()).hexdigest()
    return digests


async def ensure_home_state(*, session: AsyncSession, workspace_id: int, user_id: int) -> HomeState:
    """Start keeping this person's home up to date (once; safe to call concurrently)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.exec(
        insert(HomeState)
        .values(workspace_id=workspace_id, user_id=user_id, attempts=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["workspace_id", "user_id"])
    )
    query = select(HomeState).where(
        HomeState.workspace_id == workspace_id, HomeState.user_id == user_id
    )
    return (await session.exec(query)).one()


async def homes_due(
    *, session: AsyncSession, workspace_id: int, signatures: dict[int, str], now: datetime
) -> list[HomeState]:
    """Homes whose facts changed since they were published, and not waiting for a retry."""
    rows = await session.exec(
        select(HomeState)
        .where(
            HomeState.workspace_id == workspace_id,
            or_(col(HomeState.next_attempt_at).is_(None), col(HomeState.next_attempt_at) <= now),
        )
        .order_by(col(HomeState.id))
    )
    return [
        s for s in rows.all() if s.user_id in signatures and s.signature != signatures[s.user_id]
    ]


async def record_published(
    *, session: AsyncSession, state_id: int, signature: str | None, now: datetime
) -> None:
    """The home was published showing the facts of ``signature``."""
    state = await session.get(HomeState, state_id)
    if state is not None:
        state.signature, state.published_at = signature, now
        state.attempts, state.next_attempt_at, state.last_error = 0, None, None
        session.add(state)


async def record_failure(
    *, session: AsyncSession, state_id: int, error: str, retry_in: float, now: datetime
) -> None:
    """A publish failed: try again later, backing off up to five minutes."""
    state = await session.get(HomeState, state_id)
    if state is not None:
        state.attempts += 1
        wait = min(MAX_BACKOFF_S, max(retry_in, 2.0 ** (state.attempts - 1)))
        state.next_attempt_at = now + timedelta(seconds=wait)
        state.last_error = error[:200]
        session.add(state)
