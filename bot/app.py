"""The Bolt app: one set of listeners for HTTP and Socket Mode alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
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
)

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
    for surface in SURFACES:
        surface.register(app)
    return app
