"""The aiohttp server: Slack at /slack/events, /healthz, the API at /api/v1; loops alongside."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from sqlalchemy import text

from bot.api import PREFIX as API_PREFIX
from bot.api import create_api
from bot.deliveries import WebhookDeliverer
from bot.home import HomePublisher
from bot.inbox import Inbox, webhook_handler
from bot.intake import Intake
from bot.mailboxes import start_listeners
from bot.outbox import OutboxPoster
from bot.runtime import Runtime
from bot.scheduler import RunningJobs, create_scheduler, stop_scheduler
from bot.sources import WEBHOOK_SOURCES
from handlers.webhook import WebhookSource

RUNTIME = web.AppKey("runtime", Runtime)
INBOX = web.AppKey("inbox", Inbox)
BOLT = web.AppKey("bolt", AsyncApp)
POSTER = web.AppKey("poster", OutboxPoster)


async def slack_events(request: web.Request) -> web.Response:
    """Events, slash commands and interactivity, verified and dispatched by Bolt."""
    bolt_response = await request.app[BOLT].async_dispatch(await to_bolt_request(request))
    return await to_aiohttp_response(bolt_response)


async def healthz(request: web.Request) -> web.Response:
    """Up and able to reach the database."""
    runtime = request.app[RUNTIME]
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        return web.json_response({"ok": False, "database": type(exc).__name__}, status=503)
    return web.json_response({"ok": True, "model_version": runtime.scorer.version})


Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def _background(*loops: Loop) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that runs loops for the app's lifetime and stops them in order."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(loop(stop)) for loop in loops]
        yield
        stop.set()
        await asyncio.gather(*tasks)

    return context


async def _run_mailboxes(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = start_listeners(app[RUNTIME], stop)
    yield
    stop.set()
    await asyncio.gather(*tasks)


async def _run_scheduler(app: web.Application) -> AsyncIterator[None]:
    running = RunningJobs()
    scheduler = create_scheduler(app[RUNTIME], running)
    scheduler.start()
    yield
    await stop_scheduler(scheduler, running)


def create_web_app(
    runtime: Runtime,
    bolt: AsyncApp,
    poster: OutboxPoster,
    sources: Sequence[WebhookSource] = WEBHOOK_SOURCES,
) -> web.Application:
    """The HTTP application; the poster, inbox and scheduler run for as long as it does."""
    app = web.Application(client_max_size=25 * 1024 * 1024)
    inbox = Inbox(runtime, sources)
    intake = Intake(runtime, inbox.wake)
    app[RUNTIME], app[BOLT], app[POSTER], app[INBOX] = runtime, bolt, poster, inbox
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.add_subapp(API_PREFIX, create_api(runtime))
    for source in sources:
        app.router.add_post(source.path, webhook_handler(runtime, intake, source))
    app.cleanup_ctx.append(_background(intake.run, poster.run_forever, inbox.run_forever))
    app.cleanup_ctx.append(
        _background(
            WebhookDeliverer(
                runtime.sessions, allow_private=runtime.settings.webhooks_to_private_networks
            ).run_forever
        )
    )
    app.cleanup_ctx.append(_background(HomePublisher(runtime, bolt.client).run_forever))
    app.cleanup_ctx.append(_run_mailboxes)
    app.cleanup_ctx.append(_run_scheduler)
    return app
