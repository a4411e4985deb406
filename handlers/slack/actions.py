"""Buttons on nudges: ``nudge_feedback_right`` and ``nudge_feedback_wrong`` (same as emoji)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.flows import apply_feedback
from bot.runtime import Runtime
from handlers.blocks import FEEDBACK_ACTIONS
from handlers.slack import answer_privately, button_number, runtime_of
from models.contact import Contact
from models.db import unit_of_work
from models.nudge import Nudge
from models.services.feedback import ButtonIn
from models.services.poisoning import may_teach

ACTIONS = FEEDBACK_ACTIONS
NOTHING_TO_LEARN = (
    "Nothing to learn from that: you already gave this verdict, or the nudge is gone."
)
NOT_YOUR_LEAD = "Nothing learned: you can't see this lead, so your verdict can't teach the model."


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
        runtime = runtime_of(context)
        hidden = button is not None and await _hidden_from(runtime, button)
        await answer_privately(respond, NOT_YOUR_LEAD if hidden else NOTHING_TO_LEARN)


async def _hidden_from(runtime: Runtime, button: ButtonIn) -> bool:
    """Whether the presser was refused because they may not see the nudge's lead."""
    async with unit_of_work(runtime.sessions) as session:
        nudge = await session.get(Nudge, button.nudge_id)
        contact_id = nudge.contact_id if nudge is not None else None
        contact = await session.get(Contact, contact_id) if contact_id is not None else None
        if nudge is None or contact is None or nudge.workspace_id != runtime.workspace_id:
            return False
        return not await may_teach(
            session=session, workspace_id=runtime.workspace_id,
            slack_user_id=button.slack_user_id, contact=contact,
        )  # fmt: skip


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    for action_id in ACTIONS:
        app.action(action_id)(handle_feedback_action)
