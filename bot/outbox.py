"""The outbox poster: sends pending nudges to Slack, paced per channel, retried, never twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks import render_nudge
from models.db import SessionFactory, unit_of_work
from models.nudge import Nudge
from models.services.nudges import channel_heads, lock_pending, mark_retry, mark_sent
from models.types import utcnow

log = structlog.get_logger(__name__)
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "user_not_found",
        "cannot_dm_bot",
        "account_inactive",
        "invalid_auth",
    }
)


class SendError(Exception):
    """A post that did not go through; ``retry_in`` seconds to wait, or permanent."""

    def __init__(self, reason: str, *, retry_in: float, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.retry_in, self.permanent = reason, retry_in, permanent


@dataclass(frozen=True, slots=True)
class Posted:
    """Where Slack put a message."""

    channel_id: str
    ts: str


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


class SlackTransport:
    """Posts with ``chat.postMessage``; errors become :class:`SendError`."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
        metadata: dict[str, Any],
    ) -> Posted:
        try:
            response = await self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise _send_error(exc) from exc
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise SendError(f"network: {type(exc).__name__}", retry_in=5) from exc
        return Posted(channel_id=str(response["channel"]), ts=str(response["ts"]))


def _send_error(exc: SlackApiError) -> SendError:
    status = exc.response.status_code
    error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
    if status == 429:
        retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
        return SendError("ratelimited", retry_in=retry_after)
    if status >= 500:
        return SendError(f"slack {status}", retry_in=5)
    return SendError(error or f"http {status}", retry_in=30, permanent=error in PERMANENT_ERRORS)


def backoff(attempts: int, base: float) -> float:
    """Capped exponential backoff, never below what the server asked for.

    >>> [backoff(n, 1) for n in range(1, 5)], backoff(20, 1), backoff(1, 30)
    ([1.0, 2.0, 4.0, 8.0], 300.0, 30.0)
    """
    return float(min(300.0, max(base, 2.0 ** (attempts - 1))))


class OutboxPoster:
    """Sends nudges in order per channel, about one a second per channel.

    Only the oldest pending nudge of a channel is ever sent, so a nudge waiting for a
    retry holds the ones behind it; transient errors retry with capped backoff for as
    long as Slack is down, permanent ones fail that nudge alone.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        transport: Transport,
        *,
        pace_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.transport = transport
        self.pace_s = pace_s
        self.clock = clock
        self._last_post: dict[str, float] = {}

    def _paced(self, channel: str) -> bool:
        last = self._last_post.get(channel)
        return last is not None and self.clock() - last < self.pace_s

    async def run_once(self, *, now: datetime | None = None) -> int:
        """Send everything due, head of each channel first; returns how many went out."""
        at = now or utcnow()
        total = 0
        while True:
            async with unit_of_work(self.sessions) as session:
                heads = await channel_heads(session=session)
            sent = sum([await self._deliver(nudge_id, at) for nudge_id in heads])
            total += sent
            if not sent:
                return total

    async def _deliver(self, nudge_id: int, now: datetime) -> int:
        """Post one nudge in its own transaction, so one failure never undoes another's send."""
        async with unit_of_work(self.sessions) as session:
            nudge = await lock_pending(session=session, nudge_id=nudge_id)
            if nudge is None or self._paced(nudge.channel):
                return 0
            if nudge.next_attempt_at is not None and nudge.next_attempt_at > now:
                return 0
            parent = await session.get(Nudge, nudge.parent_id) if nudge.parent_id else None
            if parent is not None and parent.state == "pending":
                return 0
            try:
                text, blocks = render_nudge(nudge)
            except Exception as exc:
                log.exception("nudge.unrenderable", nudge_id=nudge.id)
                mark_retry(nudge, error=f"cannot render: {exc!r}", retry_in=0, permanent=True,
                           now=now)  # fmt: skip
                return 0
            return int(await self._post(nudge, parent, text, blocks, now))

    async def _post(
        self, nudge: Nudge, parent: Nudge | None, text: str, blocks: list[dict[str, Any]],
        now: datetime,
    ) -> bool:  # fmt: skip
        self._last_post[nudge.channel] = self.clock()
        threaded = parent is not None and parent.message_ts is not None
        try:
            posted = await self.transport.post(
                channel=(parent.channel_id or nudge.channel)
                if parent and threaded
                else nudge.channel,
                text=text,
                blocks=blocks,
                thread_ts=parent.message_ts if parent and threaded else None,
                metadata={"event_type": "nudge", "event_payload": {"nudge_id": nudge.id}},
            )
        except SendError as exc:
            retry_in = backoff(nudge.attempts + 1, exc.retry_in)
            mark_retry(nudge, error=exc.reason, retry_in=retry_in, permanent=exc.permanent, now=now)
            log.warning("nudge.retry", nudge_id=nudge.id, reason=exc.reason, state=nudge.state)
            return False
        mark_sent(nudge, channel_id=posted.channel_id, ts=posted.ts, now=now)
        log.info("nudge.sent", nudge_id=nudge.id, cause=nudge.cause)
        return True

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
