"""Slack events: ``reaction_added`` and ``reaction_removed`` on nudges teach the model."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.flows import apply_feedback
from handlers.slack import runtime_of
from models.services.feedback import ReactionIn

log = structlog.get_logger(__name__)
EVENTS = ("reaction_added", "reaction_removed")


def reaction_in(event: dict[str, Any], *, removed: bool) -> ReactionIn | None:
    """The reaction, when it is on a message (reactions on files are not feedback)."""
    item = event.get("item") or {}
    if item.get("type") != "message" or not item.get("channel") or not item.get("ts"):
        return None
    return ReactionIn(
        channel_id=str(item["channel"]),
        message_ts=str(item["ts"]),
        slack_user_id=str(event.get("user", "")),
        emoji=str(event.get("reaction", "")),
        removed=removed,
    )


async def _handle(
    body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext, *, removed: bool
) -> None:
    reaction = reaction_in(event, removed=removed)
    if reaction is None:
        return
    result = await apply_feedback(
        runtime_of(context), reaction, event_id=str(body.get("event_id") or "")
    )
    if result is not None:
        log.info("feedback.learned", before=result.before, after=result.after, removed=removed)


async def handle_reaction_added(
    body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
) -> None:
    """A reaction on a nudge is a verdict on it."""
    await _handle(body, event, context, removed=False)


async def handle_reaction_removed(
    body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
) -> None:
    """Taking a reaction back takes its lesson back."""
    await _handle(body, event, context, removed=True)


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    handlers = {
        "reaction_added": handle_reaction_added,
        "reaction_removed": handle_reaction_removed,
    }
    for event in EVENTS:
        app.event(event)(handlers[event])
