"""Rows of the outbox as the poster moves them: claim, send, hold, retry, and edit.

States: ``pending`` → ``sending`` (claimed, or the outcome of a post is unknown) → ``sent``;
``failed`` on a permanent error, ``snoozed`` when set aside by a snooze.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.nudge import Nudge
from models.services.nudges import ACK_SUFFIX

OUTBOX_STATES = ("pending", "sending")
SEND_LEASE = timedelta(minutes=5)
EDIT_RETRY_CAP_S = 300.0


async def channel_heads(*, session: AsyncSession, limit: int = 500) -> list[int]:
    """The oldest unsent nudge of each channel: only a head may be sent, to keep order.

    Confirmations form a lane of their own per channel: they answer something the user
    just did, in the thread of a message already sent, so they never wait behind nudges
    held for quiet hours or a rate limit.
    """
    lane = case((col(Nudge.cause).endswith(ACK_SUFFIX, autoescape=True), 1), else_=0)
    query = (
        select(func.min(Nudge.id))
        .where(col(Nudge.state).in_(OUTBOX_STATES))
        .group_by(col(Nudge.channel), lane)
        .limit(limit)
    )
    return sorted(int(i) for i in (await session.exec(query)).all() if i is not None)


async def lock_unsent(*, session: AsyncSession, nudge_id: int) -> Nudge | None:
    """A pending or sending nudge, locked for this transaction (other workers skip it)."""
    query = (
        select(Nudge)
        .where(Nudge.id == nudge_id, col(Nudge.state).in_(OUTBOX_STATES))
        .with_for_update(skip_locked=True)
    )
    return (await session.exec(query)).first()


def claim_for_sending(nudge: Nudge, *, now: datetime) -> bool:
    """Mark a nudge as being sent by this worker; True if an earlier post may have gone out.

    The claim is committed before Slack is called: if the process dies after Slack
    accepted the post, the nudge stays ``sending`` and the next attempt looks first.
    """
    maybe_posted = nudge.state == "sending"
    nudge.state, nudge.claimed_until = "sending", now + SEND_LEASE
    return maybe_posted


def claimed_elsewhere(nudge: Nudge, *, now: datetime) -> bool:
    """Another worker is sending this nudge right now (its lease has not run out)."""
    return nudge.claimed_until is not None and nudge.claimed_until > now


def mark_retry(
    nudge: Nudge,
    *,
    error: str,
    retry_in: float,
    permanent: bool,
    now: datetime,
    maybe_posted: bool = False,
) -> None:
    """Give up on a permanent error; otherwise try again later, however long Slack is down.

    ``maybe_posted`` (a timeout or a server error after the request left) keeps the nudge
    ``sending``, so the retry first looks for the message instead of posting it twice.
    """
    nudge.attempts += 1
    nudge.last_error = error[:500]
    nudge.claimed_until = None
    if permanent:
        nudge.state = "failed"
    else:
        nudge.state = "sending" if maybe_posted else "pending"
        nudge.next_attempt_at = now + timedelta(seconds=retry_in)


def hold(nudge: Nudge, *, until: datetime) -> None:
    """Keep a nudge back (quiet hours, rate limit) without counting a failed attempt."""
    nudge.next_attempt_at = until


def add_note(nudge: Nudge, *, key: str, value: dict[str, Any], now: datetime) -> bool:
    """Record what someone did with a sent message; the poster then updates the message.

    The same note twice changes nothing (a button pressed again, a retried request).
    """
    if nudge.notes.get(key) == value:
        return False
    nudge.notes = {**nudge.notes, key: value}
    nudge.notes_version += 1
    nudge.edit_due_at, nudge.edit_attempts = now, 0
    return True


async def edits_due(*, session: AsyncSession, now: datetime, limit: int = 50) -> list[int]:
    """Sent nudges whose message must be updated to show their notes."""
    query = (
        select(Nudge.id)
        .where(col(Nudge.edit_due_at) <= now, Nudge.state == "sent")
        .order_by(col(Nudge.edit_due_at))
        .limit(limit)
    )
    return [int(i) for i in (await session.exec(query)).all() if i is not None]


def mark_edited(nudge: Nudge, *, version: int) -> None:
    """The message now shows ``version`` of the notes; done unless they changed meanwhile."""
    nudge.shown_version = max(nudge.shown_version, version)
    if nudge.shown_version >= nudge.notes_version:
        nudge.edit_due_at, nudge.edit_attempts = None, 0


def mark_edit_retry(nudge: Nudge, *, retry_in: float, permanent: bool, now: datetime) -> None:
    """Try the update again later, or give it up (the message was deleted)."""
    nudge.edit_attempts += 1
    if permanent:
        nudge.edit_due_at = None
    else:
        wait = min(EDIT_RETRY_CAP_S, max(retry_in, 2.0 ** (nudge.edit_attempts - 1)))
        nudge.edit_due_at = now + timedelta(seconds=wait)
