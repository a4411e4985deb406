"""The Bolt app: one set of listeners for HTTP and Socket Mode alike.

Bolt checks each HTTP request's signature and refuses one signed more than five minutes
from now; :func:`refuse_replays` refuses the same signed request a second time, on any
worker (the signature is kept in ``WebhookReceipt``; the daily retention job forgets it
after a day, long after Bolt's time check would refuse it anyway). Slack's retries of
an event pass here and meet the event-id de-duplication.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from handlers.slack import (
    actions,
    admin,
    commands,
    digest,
    events,
    fix_data,
    home,
    lookups,
    merge_actions,
    nudge_actions,
    runtime_of,
)
from models.db import unit_of_work
from models.services.inbox import first_signature

REPLAY_SOURCE = "slack"

SURFACES = (
    events,
    actions,
    commands,
    admin,
    digest,
    fix_data,
    home,
    lookups,
    nudge_actions,
    merge_actions,
)


def create_web_client(token: str, base_url: str) -> AsyncWebClient:
    """A Web API client that retries rate limits (Retry-After) and server errors."""
    client = AsyncWebClient(token=token, base_url=base_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
    return client


def create_bolt_app(runtime: Runtime, *, client: AsyncWebClient, signing_secret: str) -> AsyncApp:
    """The Bolt app with every listener registered and the runtime in each context."""
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)

    async def inject_runtime(
        context: AsyncBoltContext,
        next: Callable[[], Awaitable[Any]],
    ) -> Any:
        context["runtime"] = runtime
        return await next()

    app.use(inject_runtime)
    app.use(refuse_replays)
    for surface in SURFACES:
        surface.register(app)
    return app


def _header(req: AsyncBoltRequest, name: str) -> str:
    values = req.headers.get(name) or [""]
    return str(values[0])


async def refuse_replays(
    req: AsyncBoltRequest, context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]
) -> Any:
    """401 for a signed request seen before (same timestamp and signature).

    Socket Mode requests carry no signature and pass; so do Slack's retries of an event
    (``X-Slack-Retry-Num``), whose effect the event id already makes happen once.
    """
    signature = _header(req, "x-slack-signature")
    if not signature or _header(req, "x-slack-retry-num"):
        return await next()
    key = f"{_header(req, 'x-slack-request-timestamp')}:{signature}"
    async with unit_of_work(runtime_of(context).sessions) as session:
        first = await first_signature(session=session, source=REPLAY_SOURCE, key=key)
    if not first:
        return BoltResponse(status=401, body="replayed request")
    return await next()
