"""The App Home tab: ``app_home_opened`` publishes the person's dashboard (``views.publish``).

Keeping it current afterwards is :class:`bot.home.HomePublisher`'s job.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.home import publish_home
from handlers.slack import runtime_of

EVENTS = ("app_home_opened",)


async def handle_app_home_opened(
    event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    """Publish the Home tab when it is opened (the Messages tab needs nothing)."""
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    await publish_home(runtime_of(context), client, str(event["user"]))


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    app.event("app_home_opened")(handle_app_home_opened)
