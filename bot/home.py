"""Keeping every App Home current: published when opened, and again whenever its facts change.

How a refresh stays reliable:

1. Opening the Home tab publishes it at once and starts tracking that person
   (:class:`~models.home.HomeState`, one row each, created idempotently).
2. :class:`HomePublisher` runs beside the web server. Every ``poll_s`` seconds it computes,
   in a few grouped queries for the whole workspace, a signature per person of the facts
   their home shows (leads scored, hygiene issues opened or closed, feedback given or taken
   back, nudges sent to them, outcomes learned, their team's numbers) and republishes the
   homes whose signature differs from the one last published. Any committed change, from
   any worker or import, is picked up within one poll; no writer has to remember to flag it.
3. Publishing is paced (``pace_s`` between calls), ``views.publish`` is idempotent, and a
   failure keeps the old signature with capped exponential backoff, so it is retried until
   Slack takes it. Data is read before the Slack call and the signature stored after, so a
   change made meanwhile is published on the next pass rather than lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from handlers.blocks_home import render_guest_home, render_home
from models.db import unit_of_work
from models.services.access import workspace_users
from models.services.audit import record_audit
from models.services.home import home_for
from models.services.home_state import (
    ensure_home_state,
    home_signatures,
    homes_due,
    record_failure,
    record_published,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Due:
    state_id: int
    user_id: int
    slack_user_id: str
    signature: str


def _retry_in(exc: Exception) -> tuple[str, float]:
    if isinstance(exc, SlackApiError):
        if exc.response.status_code == 429:
            return "ratelimited", float(exc.response.headers.get("Retry-After", "1") or 1)
        data = exc.response.data
        return (str(data.get("error", "")) if isinstance(data, dict) else "") or "slack", 5.0
    return f"network: {type(exc).__name__}", 5.0


async def _publish_tracked(
    runtime: Runtime, client: AsyncWebClient, due: _Due, now: datetime
) -> bool:
    async with unit_of_work(runtime.sessions) as session:
        home = await home_for(
            session=session,
            workspace_id=runtime.workspace_id,
            user_id=due.user_id,
            scoring=runtime.config.crm.scoring,
        )
    view = render_home(home) if home is not None else render_guest_home()
    try:
        await client.views_publish(user_id=due.slack_user_id, view=view)
    except (SlackApiError, TimeoutError, OSError, aiohttp.ClientError) as exc:
        reason, retry_in = _retry_in(exc)
        log.warning("home.publish_failed", reason=reason)
        async with unit_of_work(runtime.sessions) as session:
            await record_failure(
                session=session, state_id=due.state_id, error=reason, retry_in=retry_in, now=now
            )
        return False
    async with unit_of_work(runtime.sessions) as session:
        await record_published(
            session=session, state_id=due.state_id, signature=due.signature, now=now
        )
    return True


async def _due(runtime: Runtime, now: datetime) -> list[_Due]:
    async with unit_of_work(runtime.sessions) as session:
        users = {
            u.id: u
            for u in await workspace_users(session=session, workspace_id=runtime.workspace_id)
        }
        signatures = await home_signatures(
            session=session, workspace_id=runtime.workspace_id, hot=runtime.config.crm.scoring.hot
        )
        states = await homes_due(
            session=session, workspace_id=runtime.workspace_id, signatures=signatures, now=now
        )
    return [
        _Due(s.id or 0, s.user_id, users[s.user_id].slack_user_id or "", signatures[s.user_id])
        for s in states
        if users[s.user_id].slack_user_id
    ]


async def publish_home(runtime: Runtime, client: AsyncWebClient, slack_user_id: str) -> bool:
    """The Home tab was opened: publish it now and keep it current from here on."""
    now = runtime.clock()
    async with unit_of_work(runtime.sessions) as session:
        users = await workspace_users(session=session, workspace_id=runtime.workspace_id)
        member = next((u for u in users if u.slack_user_id == slack_user_id), None)
        if member is not None and member.id is not None:
            state = await ensure_home_state(
                session=session, workspace_id=runtime.workspace_id, user_id=member.id
            )
            signatures = await home_signatures(
                session=session,
                workspace_id=runtime.workspace_id,
                hot=runtime.config.crm.scoring.hot,
            )
            await record_audit(  # the person is about to see their leads (SPEC C5.2)
                session=session, workspace_id=runtime.workspace_id,
                actor=f"slack:{slack_user_id}", action="home.viewed", target_type="user",
                target_id=member.id,
            )  # fmt: skip
    if member is None or member.id is None:
        try:
            await client.views_publish(user_id=slack_user_id, view=render_guest_home())
        except (SlackApiError, TimeoutError, OSError, aiohttp.ClientError) as exc:
            log.warning("home.publish_failed", reason=_retry_in(exc)[0])
            return False
        return True
    due = _Due(state.id or 0, member.id, slack_user_id, signatures[member.id])
    return await _publish_tracked(runtime, client, due, now)


class HomePublisher:
    """Republishes the homes whose facts changed, paced and retried (see the module notes)."""

    def __init__(
        self,
        runtime: Runtime,
        client: AsyncWebClient,
        *,
        poll_s: float = 1.0,
        pace_s: float = 0.2,
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.poll_s = poll_s
        self.pace_s = pace_s

    async def run_once(self) -> int:
        """One pass: publish every home that is out of date; returns how many went out."""
        now = self.runtime.clock()
        published = 0
        for n, due in enumerate(await _due(self.runtime, now)):
            if n and self.pace_s:
                await asyncio.sleep(self.pace_s)
            published += await _publish_tracked(self.runtime, self.client, due, now)
        return published

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; a failure never ends the loop."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("home.error")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
            except TimeoutError:
                continue
