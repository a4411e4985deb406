"""The outbox poster: sends pending nudges to Slack, paced per channel, retried, never twice.

A send is three steps: claim the nudge (state ``sending``, committed), call Slack, record
the outcome. A crash or a timeout between the call and the record leaves the nudge
``sending``; its next attempt first looks for the message in the channel by the
``nudge_id`` metadata every post carries, and only posts if Slack does not have it.
Message updates (a nudge marked contacted or snoozed) go through the same rows: a note
makes the message due for a ``chat.update``, retried until Slack takes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.slack_transport import Posted, SendError, SlackTransport
from handlers.blocks import render_nudge, without_images
from models.db import SessionFactory, unit_of_work
from models.nudge import Nudge
from models.services.delivery import DeliveryRules, held_until
from models.services.nudges import is_confirmation, mark_sent
from models.services.outbox_rows import (
    channel_heads,
    claim_for_sending,
    claimed_elsewhere,
    edits_due,
    hold,
    lock_unsent,
    mark_edit_retry,
    mark_edited,
    mark_retry,
)
from models.services.snooze import snoozed_until, subjects_of
from models.types import utcnow

__all__ = ["OutboxPoster", "Posted", "SendError", "SlackTransport", "Transport", "backoff"]
log = structlog.get_logger(__name__)


class Transport(Protocol):
    """Something that delivers one rendered message (Slack's Web API, or the demo's screen)."""

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
        metadata: dict[str, Any],
    ) -> Posted: ...


@runtime_checkable
class MessageStore(Protocol):
    """A transport that can also find a message it may have posted, and update one."""

    async def find(self, *, channel: str, thread_ts: str | None, nudge_id: int) -> Posted | None:
        """The message carrying this nudge id, if the channel (or thread) has it."""

    async def update(
        self, *, channel_id: str, ts: str, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        """Replace a message's text and blocks."""


def backoff(attempts: int, base: float) -> float:
    """Capped exponential backoff, never below what the server asked for.

    >>> [backoff(n, 1) for n in range(1, 5)], backoff(20, 1), backoff(1, 30)
    ([1.0, 2.0, 4.0, 8.0], 300.0, 30.0)
    """
    return float(min(300.0, max(base, 2.0 ** (attempts - 1))))


@dataclass(frozen=True, slots=True)
class _Claim:
    """A nudge this worker is sending, rendered, with where it goes."""

    nudge_id: int
    cause: str
    channel: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]]
    maybe_posted: bool


class OutboxPoster:
    """Sends nudges in order per channel, about one a second per channel.

    Only the oldest unsent nudge of a channel is ever sent, so a nudge waiting for a
    retry, quiet hours or a free slot holds the ones behind it; confirmations have a lane
    of their own. Transient errors retry with capped backoff for as long as Slack is
    down, permanent ones fail that nudge alone. ``rules`` (quiet hours and the per-rep
    cap) apply when given, as a value or as a function read at each send (so a reloaded
    app.yaml takes effect); ``wall_clock`` is the time of day they are judged by.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        transport: Transport,
        *,
        pace_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        rules: DeliveryRules | Callable[[], DeliveryRules] | None = None,
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.transport = transport
        self.pace_s = pace_s
        self.clock = clock
        self.rules = rules
        self.wall_clock = wall_clock
        self._last_post: dict[str, float] = {}
        self._set_aside = 0

    def _paced(self, channel: str) -> bool:
        last = self._last_post.get(channel)
        return last is not None and self.clock() - last < self.pace_s

    async def run_once(self, *, now: datetime | None = None) -> int:
        """Send everything due, head of each channel first, then update edited messages.

        Returns how many messages were posted.
        """
        at = now or self.wall_clock()
        total = 0
        while True:
            async with unit_of_work(self.sessions) as session:
                heads = await channel_heads(session=session)
            set_aside = self._set_aside
            sent = sum([await self._deliver(nudge_id, at) for nudge_id in heads])
            total += sent
            if not sent and self._set_aside == set_aside:
                break
        await self._apply_edits(at)
        return total

    async def _deliver(self, nudge_id: int, now: datetime) -> int:
        """Claim, post and record one nudge; one failure never undoes another's send."""
        claim = await self._claim(nudge_id, now)
        if claim is None:
            return 0
        self._last_post[claim.channel] = self.clock()
        looked = False
        try:
            posted = None
            if claim.maybe_posted and isinstance(self.transport, MessageStore):
                posted = await self.transport.find(
                    channel=claim.channel, thread_ts=claim.thread_ts, nudge_id=claim.nudge_id
                )
                looked = True
            if posted is None:
                posted = await self._send(claim)
        except SendError as exc:
            unresolved = claim.maybe_posted and not looked
            await self._record_failure(claim, exc, now, maybe_posted=exc.uncertain or unresolved)
            return 0
        async with unit_of_work(self.sessions) as session:
            nudge = await session.get(Nudge, nudge_id)
            assert nudge is not None
            mark_sent(nudge, channel_id=posted.channel_id, ts=posted.ts, now=now)
            session.add(nudge)
        log.info("nudge.sent", nudge_id=nudge_id, cause=claim.cause, found=looked)
        return 1

    async def _send(self, claim: _Claim) -> Posted:
        """Post the claimed message; if Slack refuses its blocks because of a picture (a file
        still being processed), post it once more without the picture."""

        async def post(blocks: list[dict[str, Any]]) -> Posted:
            return await self.transport.post(
                channel=claim.channel,
                text=claim.text,
                blocks=blocks,
                thread_ts=claim.thread_ts,
                metadata={"event_type": "nudge", "event_payload": {"nudge_id": claim.nudge_id}},
            )

        try:
            return await post(claim.blocks)
        except SendError as exc:
            plain = without_images(claim.blocks)
            if exc.reason != "invalid_blocks" or plain is None:
                raise
            log.warning("nudge.picture_refused", nudge_id=claim.nudge_id)
            return await post(plain)

    async def _claim(self, nudge_id: int, now: datetime) -> _Claim | None:
        """In one committed transaction: check the nudge may go now, render it, mark it sending."""
        async with unit_of_work(self.sessions) as session:
            nudge = await lock_unsent(session=session, nudge_id=nudge_id)
            if nudge is None or self._paced(nudge.channel) or claimed_elsewhere(nudge, now=now):
                return None
            if nudge.next_attempt_at is not None and nudge.next_attempt_at > now:
                return None
            parent = await session.get(Nudge, nudge.parent_id) if nudge.parent_id else None
            if parent is not None and parent.state in ("pending", "sending"):
                return None
            if not is_confirmation(nudge.cause) and await self._held(session, nudge, now):
                return None
            try:
                text, blocks = render_nudge(nudge)
            except Exception as exc:
                log.exception("nudge.unrenderable", nudge_id=nudge.id)
                mark_retry(nudge, error=f"cannot render: {exc!r}", retry_in=0, permanent=True,
                           now=now)  # fmt: skip
                return None
            threaded = parent is not None and parent.message_ts is not None
            maybe_posted = claim_for_sending(nudge, now=now)
            session.add(nudge)
            return _Claim(
                nudge_id=nudge_id,
                cause=nudge.cause,
                channel=(parent.channel_id or nudge.channel)
                if parent and threaded
                else nudge.channel,
                thread_ts=parent.message_ts if parent and threaded else None,
                text=text,
                blocks=blocks,
                maybe_posted=maybe_posted,
            )

    async def _held(self, session: AsyncSession, nudge: Nudge, now: datetime) -> bool:
        """Snoozed (set aside; queued again if still true after the snooze), or held for
        quiet hours or the hourly cap. A nudge that may already be in Slack is not snoozed.
        """
        snoozed = await snoozed_until(
            session=session, workspace_id=nudge.workspace_id, subjects=subjects_of(nudge), now=now
        )
        if snoozed is not None and nudge.state == "pending":
            nudge.state = "snoozed"
            session.add(nudge)
            self._set_aside += 1  # the next nudge of its channel becomes the head
            log.info("nudge.snoozed", nudge_id=nudge.id)
            return True
        if self.rules is None:
            return False
        rules = self.rules if isinstance(self.rules, DeliveryRules) else self.rules()
        until = await held_until(session=session, nudge=nudge, rules=rules, now=now)
        if until is None:
            return False
        hold(nudge, until=until)
        session.add(nudge)
        log.info("nudge.held", nudge_id=nudge.id, until=until.isoformat())
        return True

    async def _record_failure(
        self, claim: _Claim, exc: SendError, now: datetime, *, maybe_posted: bool
    ) -> None:
        async with unit_of_work(self.sessions) as session:
            nudge = await session.get(Nudge, claim.nudge_id)
            assert nudge is not None
            retry_in = backoff(nudge.attempts + 1, exc.retry_in)
            mark_retry(nudge, error=exc.reason, retry_in=retry_in, permanent=exc.permanent,
                       now=now, maybe_posted=maybe_posted)  # fmt: skip
            session.add(nudge)
        log.warning("nudge.retry", nudge_id=claim.nudge_id, reason=exc.reason, state=nudge.state)

    async def _apply_edits(self, now: datetime) -> None:
        """Update every sent message whose notes changed (marked contacted, snoozed)."""
        async with unit_of_work(self.sessions) as session:
            due = await edits_due(session=session, now=now)
        for nudge_id in due:
            await self._edit(nudge_id, now)

    async def _edit(self, nudge_id: int, now: datetime) -> None:
        async with unit_of_work(self.sessions) as session:
            nudge = await session.get(Nudge, nudge_id)
            if nudge is None or nudge.channel_id is None or nudge.message_ts is None:
                return
            version, where = nudge.notes_version, (nudge.channel_id, nudge.message_ts)
            text, blocks = render_nudge(nudge)
        failure: SendError | None = None
        if isinstance(self.transport, MessageStore):
            try:
                await self.transport.update(
                    channel_id=where[0], ts=where[1], text=text, blocks=blocks
                )
            except SendError as exc:
                failure = exc
        async with unit_of_work(self.sessions) as session:
            nudge = await session.get(Nudge, nudge_id, with_for_update=True)
            assert nudge is not None
            if failure is None:
                mark_edited(nudge, version=version)
            else:
                mark_edit_retry(nudge, retry_in=failure.retry_in, permanent=failure.permanent,
                                now=now)  # fmt: skip
                log.warning("nudge.edit_retry", nudge_id=nudge_id, reason=failure.reason)
            session.add(nudge)

    async def run_forever(self, stop: asyncio.Event, *, interval_s: float = 0.25) -> None:
        """Poll the outbox until ``stop`` is set; a failure never ends the loop."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox.error")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                continue
