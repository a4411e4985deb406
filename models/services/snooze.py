"""Snoozes: a rep asks for no nudge about a lead or a deal for a while.

A subject is ``contact:<id>`` or ``deal:<id>``; a nudge is about every subject it names.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import add_unless_taken
from models.nudge import Nudge, Snooze


def subjects_of(nudge: Nudge) -> list[str]:
    """The leads and deals a nudge is about.

    >>> subjects_of(Nudge(workspace_id=1, cause="x", dedupe_key="k", channel="C", contact_id=3,
    ...                   deal_id=9))
    ['contact:3', 'deal:9']
    """
    found = []
    if nudge.contact_id is not None:
        found.append(f"contact:{nudge.contact_id}")
    if nudge.deal_id is not None:
        found.append(f"deal:{nudge.deal_id}")
    return found


async def snoozed_until(
    *, session: AsyncSession, workspace_id: int, subjects: list[str], now: datetime
) -> datetime | None:
    """The latest end of a snooze still running on any of ``subjects``, or None."""
    if not subjects:
        return None
    query = select(Snooze.until).where(
        Snooze.workspace_id == workspace_id,
        col(Snooze.subject).in_(subjects),
        col(Snooze.until) > now,
    )
    return max((await session.exec(query)).all(), default=None)


async def snooze(
    *, session: AsyncSession, workspace_id: int, subject: str, until: datetime, by: str
) -> bool:
    """Snooze ``subject`` until ``until``; an earlier or equal end changes nothing.

    Returns True when the snooze was set or extended. A shorter snooze never cuts a
    longer one short, so pressing "1 day" after "1 week" keeps the week.
    """
    row = (
        await session.exec(
            select(Snooze)
            .where(Snooze.workspace_id == workspace_id, Snooze.subject == subject)
            .with_for_update()
        )
    ).first()
    if row is None:
        row = Snooze(workspace_id=workspace_id, subject=subject, until=until,
                     by_slack_user_id=by[:32])  # fmt: skip
        if await add_unless_taken(session, row):
            return True
        # pressed twice at once: the other press made the row
        return await snooze(session=session, workspace_id=workspace_id, subject=subject,
                            until=until, by=by)  # fmt: skip
    if row.until >= until:
        return False
    row.until, row.by_slack_user_id = until, by[:32]
    session.add(row)
    await session.flush()
    return True
