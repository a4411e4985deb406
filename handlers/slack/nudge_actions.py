"""Buttons on nudges: ``nudge_mark_contacted``, ``nudge_snooze_day``, ``nudge_snooze_week``.

Each acks at once; pressing twice has one effect. The message itself is updated by the
outbox poster (a durable, retried ``chat.update``); the presser hears back privately only
when nothing changed.
"""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.runtime import Runtime
from handlers.blocks import MARK_CONTACTED, SNOOZE_ACTIONS, mention
from handlers.slack import answer_privately, button_number, runtime_of
from models.db import unit_of_work
from models.services.nudge_actions import ActionResult, mark_contacted, snooze_nudge

log = structlog.get_logger(__name__)
ACTIONS = (MARK_CONTACTED, *SNOOZE_ACTIONS)
GONE = "This button belongs to a nudge Nudge no longer knows; nothing was changed."
REFUSED = "Only the owner of this lead, their manager or an admin can do that; nothing was changed."


async def _press(runtime: Runtime, action_id: str, nudge_id: int, user_id: str) -> ActionResult:
    now = runtime.clock()
    async with unit_of_work(runtime.sessions) as session:
        if action_id == MARK_CONTACTED:
            return await mark_contacted(session=session, scorer=runtime.scorer,
                                        workspace_id=runtime.workspace_id, nudge_id=nudge_id,
                                        slack_user_id=user_id, now=now)  # fmt: skip
        return await snooze_nudge(session=session, workspace_id=runtime.workspace_id,
                                  nudge_id=nudge_id, slack_user_id=user_id,
                                  days=SNOOZE_ACTIONS[action_id], now=now)  # fmt: skip


def _already(action_id: str, result: ActionResult) -> str:
    notes = result.nudge.notes if result.nudge is not None else {}
    if action_id == MARK_CONTACTED and "contacted" in notes:
        return f"Already marked contacted by {mention(str(notes['contacted']['by']))}."
    return "Already snoozed at least that long."


async def handle_nudge_action(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    respond: AsyncRespond,
) -> None:
    """Ack, apply the button once, and tell the presser only when nothing changed."""
    await ack()
    nudge_id, action_id = button_number(action), str(action.get("action_id", ""))
    user_id = str((body.get("user") or {}).get("id", ""))
    if nudge_id is None or not user_id:
        await answer_privately(respond, GONE)
        return
    result = await _press(runtime_of(context), action_id, nudge_id, user_id)
    log.info("nudge.action", action=action_id, nudge_id=nudge_id, outcome=result.outcome)
    if result.outcome == "gone":
        await answer_privately(respond, GONE)
    elif result.outcome == "refused":
        await answer_privately(respond, REFUSED)
    elif result.outcome == "already":
        await answer_privately(respond, _already(action_id, result))


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    for action_id in ACTIONS:
        app.action(action_id)(handle_nudge_action)
