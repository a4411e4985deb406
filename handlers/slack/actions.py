"""Buttons on nudges: ``nudge_feedback_right`` and ``nudge_feedback_wrong`` (same as emoji)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.flows import apply_feedback
from handlers.blocks import FEEDBACK_ACTIONS
from handlers.slack import answer_privately, button_number, runtime_of
from models.services.feedback import ButtonIn

ACTIONS = FEEDBACK_ACTIONS


def button_in(body: dict[str, Any], action: dict[str, Any]) -> ButtonIn | None:
    """The verdict a feedback button carries, or None if its value is not a nudge id."""
    nudge_id = button_number(action)
    if nudge_id is None:
        return None
    label = action.get("action_id") == FEEDBACK_ACTIONS[0]
    return ButtonIn(nudge_id=nudge_id, slack_user_id=str(body["user"]["id"]), label=label)


async def handle_feedback_action(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    respond: AsyncRespond,
) -> None:
    """Ack at once; learn; tell only the presser if nothing was learned."""
    await ack()
    button = button_in(body, action)
    result = await apply_feedback(runtime_of(context), button) if button else None
    if result is None:
        await answer_privately(
            respond,
            "Nothing to learn from that: you already gave this verdict, or the nudge is gone.",
        )


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    for action_id in ACTIONS:
        app.action(action_id)(handle_feedback_action)
