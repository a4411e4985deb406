"""Deliver manager digests: once a day at each recipient's local morning, or on demand.

A digest is composed (a read), its chart drawn and uploaded privately to Slack, and then,
in one transaction, the daily (recipient, local date) run is claimed and the message is
written to the outbox; the poster sends it. Two workers, two schedulers or a restart can
therefore never queue a second one: the loser's claim fails and its transaction writes
nothing (at worst it leaves one unshared, private chart file behind).
"""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select

from bot.chart import has_chart, render_chart
from bot.runtime import Runtime
from models.db import unit_of_work
from models.jobs import JobRun
from models.nudge import Nudge
from models.services.digest import (
    audience_for,
    build_digest,
    digest_recipients,
    user_by_slack_id,
)
from models.services.jobs import claim_run, finish_run
from models.services.nudges import queue_nudge
from models.workspace import User

log = structlog.get_logger(__name__)
WORKER = f"{socket.gethostname()}:{os.getpid()}"
CHART_ALT = "Bar chart of open pipeline by stage, and a histogram of lead scores"


def slack_client(runtime: Runtime) -> AsyncWebClient | None:
    """A Web API client from the settings, or None when no bot token is set."""
    from bot.app import create_web_client  # bot.app imports the surfaces, which import us

    token = runtime.settings.slack_bot_token
    if token is None or not token.get_secret_value().strip():
        return None
    return create_web_client(token.get_secret_value(), runtime.settings.api_base_url)


def zone_of(user: User) -> ZoneInfo:
    """The user's Slack time zone; UTC when it is unknown."""
    try:
        return ZoneInfo(user.tz)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("digest.unknown_tz", user_id=user.id)
        return ZoneInfo("UTC")


def due_date(user: User, runtime: Runtime, now: datetime) -> date | None:
    """The local date whose digest is due for ``user`` now, or None outside the window.

    The window opens at ``crm.digest_time`` in the user's zone and stays open for
    ``crm.digest.grace_hours``, so a worker started late still sends today's digest but
    never yesterday's.
    """
    local = now.astimezone(zone_of(user))
    opens = datetime.combine(local.date(), runtime.config.crm.digest_time, tzinfo=local.tzinfo)
    closes = opens + timedelta(hours=runtime.config.crm.digest.grace_hours)
    return local.date() if opens <= local < closes else None


def daily_job(runtime: Runtime, user: User) -> str:
    """The run-once job name of a recipient's daily digest."""
    return f"digest:{runtime.workspace_id}:{user.id}"


async def upload_chart(client: AsyncWebClient, png: bytes, *, name: str) -> str | None:
    """Upload a PNG privately (get an upload URL, send the bytes, complete); its file id.

    A failure leaves the digest without its picture rather than without the digest.
    """
    try:
        response = await client.files_upload_v2(
            file=png, filename=f"{name}.png", title="Pipeline and lead scores"
        )
    except (SlackApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("digest.chart_upload_failed", error=type(exc).__name__)
        return None
    files = response.get("files") or [response.get("file") or {}]
    file_id = files[0].get("id") if files else None
    return str(file_id) if file_id else None


async def compose(
    runtime: Runtime, client: AsyncWebClient | None, user: User, *, now: datetime, today: date
) -> dict[str, Any]:
    """The digest payload for ``user``, with its chart uploaded when a client is given."""
    async with unit_of_work(runtime.sessions) as session:
        audience = await audience_for(session=session, user=user)
        payload = await build_digest(
            session=session, audience=audience, config=runtime.config.crm, now=now, today=today
        )
    if client is not None and has_chart(payload):
        png = await asyncio.to_thread(render_chart, payload)
        file_id = await upload_chart(client, png, name=f"digest-{today.isoformat()}")
        if file_id is not None:
            payload["chart"] = {"file_id": file_id, "alt": CHART_ALT}
    return payload


async def _queue(
    runtime: Runtime, user: User, payload: dict[str, Any], subject: str, claim: str | None
) -> Nudge | None:
    """Claim the daily run (when ``claim`` names its period) and queue the message, together."""
    assert user.slack_user_id is not None
    async with unit_of_work(runtime.sessions) as session:
        run = None
        if claim is not None:
            job = daily_job(runtime, user)
            run = await claim_run(session=session, job=job, period=claim, worker=WORKER)
            if run is None:
                return None
        nudge = await queue_nudge(
            session=session,
            workspace_id=runtime.workspace_id,
            cause="digest",
            subject=subject,
            facts={"date": payload["date"]},
            target=(user.slack_user_id, user.id),
            payload=payload,
        )
        if run is not None:
            finish_run(run)
        return nudge


async def _claimed(runtime: Runtime, user: User, period: str) -> bool:
    async with unit_of_work(runtime.sessions) as session:
        query = select(JobRun.id).where(
            JobRun.job == daily_job(runtime, user), JobRun.period == period
        )
        return (await session.exec(query)).first() is not None


async def _send_daily(
    runtime: Runtime, client: AsyncWebClient | None, user: User, *, now: datetime, today: date
) -> int:
    payload = await compose(runtime, client, user, now=now, today=today)
    subject = f"user:{user.id}:{today.isoformat()}"
    return int(await _queue(runtime, user, payload, subject, claim=today.isoformat()) is not None)


async def send_due_digests(runtime: Runtime, client: AsyncWebClient | None = None) -> int:
    """Queue the digest of every manager and admin whose local digest time has come.

    Safe to run at any moment and from any number of workers: each (recipient, local
    date) is sent once. Returns how many digests this call queued.
    """
    now = runtime.clock()
    async with unit_of_work(runtime.sessions) as session:
        recipients = await digest_recipients(session=session, workspace_id=runtime.workspace_id)
    queued = 0
    for user in recipients:
        today = due_date(user, runtime, now)
        if today is None or await _claimed(runtime, user, today.isoformat()):
            continue
        try:
            queued += await _send_daily(runtime, client, user, now=now, today=today)
        except Exception:
            log.exception("digest.failed", user_id=user.id)  # the others still go out
    log.info("digest.due_done", queued=queued, recipients=len(recipients))
    return queued


async def send_digest_now(
    runtime: Runtime, client: AsyncWebClient | None, slack_user_id: str
) -> str | None:
    """Queue a digest for this team member at once, outside the daily run (it claims nothing).

    Returns the digest's scope (``everyone``, ``team``, ``own``); None when the Slack user
    is not on the team.
    """
    now = runtime.clock()
    async with unit_of_work(runtime.sessions) as session:
        user = await user_by_slack_id(
            session=session, workspace_id=runtime.workspace_id, slack_user_id=slack_user_id
        )
    if user is None:
        return None
    today = now.astimezone(zone_of(user)).date()
    payload = await compose(runtime, client, user, now=now, today=today) | {"on_demand": True}
    subject = f"user:{user.id}:now:{now.isoformat()}"
    await _queue(runtime, user, payload, subject, claim=None)
    return str(payload["scope"])
