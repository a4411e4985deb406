"""The outbox poster: sends pending nudges to Slack, paced per channel, retried, never twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks import render_nudge
from models.db import SessionFactory, unit_of_work
from models.nudge import Nudge
from models.services.nudges import due_nudges, mark_retry, mark_sent
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
        except (TimeoutError, OSError) as exc:
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
    """Sends due nudges in order per channel, about one a second per channel."""

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
        """Send what is due now; returns how many messages went out."""
        sent = 0
        async with unit_of_work(self.sessions) as session:
            due = await due_nudges(session=session, now=now or utcnow())
            held: set[str] = set()
            for nudge in due:
                parent = await session.get(Nudge, nudge.parent_id) if nudge.parent_id else None
                if nudge.channel in held or self._paced(nudge.channel):
                    held.add(nudge.channel)
                    continue
                if parent is not None and parent.message_ts is None:
                    held.add(nudge.channel)
                    continue
                if await self._send(nudge, parent):
                    sent += 1
                else:
                    held.add(nudge.channel)
        return sent

    async def _send(self, nudge: Nudge, parent: Nudge | None) -> bool:
        text, blocks = render_nudge(nudge)
        self._last_post[nudge.channel] = self.clock()
        try:
            posted = await self.transport.post(
                channel=nudge.channel,
                text=text,
                blocks=blocks,
                thread_ts=parent.message_ts if parent else None,
                metadata={"event_type": "nudge", "event_payload": {"nudge_id": nudge.id}},
            )
        except SendError as exc:
            mark_retry(
                nudge,
                error=exc.reason,
                retry_in=backoff(nudge.attempts + 1, exc.retry_in),
                permanent=exc.permanent,
            )
            log.warning("nudge.retry", nudge_id=nudge.id, reason=exc.reason, state=nudge.state)
            return False
        mark_sent(nudge, channel_id=posted.channel_id, ts=posted.ts)
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
