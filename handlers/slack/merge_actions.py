"""Buttons on a merge proposal: **Merge** merges the two, **Not the same** is remembered."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows import rescore_merged
from bot.runtime import Runtime
from handlers.blocks import mention
from handlers.blocks_merge import MERGE_ACTIONS, render_merge_answer
from handlers.slack import answer_privately, button_number, runtime_of
from models.db import unit_of_work
from models.hygiene import MergeProposal
from models.services.access import may_act_on
from models.services.hygiene import paired_contacts, recheck
from models.services.merges import MergeError, accept_proposal, reject_proposal
from models.services.nudges import nudge_by_message

ACTIONS = MERGE_ACTIONS


async def answer_proposal(runtime: Runtime, proposal_id: int, user_id: str, merge: bool) -> str:
    """Carry out the answer in one transaction; the line that replaces the buttons.

    The two contacts are re-checked in it, which closes their open "duplicate" issue.
    """
    actor = f"slack:{user_id}"
    async with unit_of_work(runtime.sessions) as session:
        proposal = await session.get(MergeProposal, proposal_id)
        if proposal is not None and not await may_act_on(
            session=session, workspace_id=runtime.workspace_id, slack_user_id=user_id,
            contact_ids=(proposal.contact_a_id, proposal.contact_b_id),
        ):  # fmt: skip
            raise MergeError("Only the owners of both contacts, their managers or an admin can "
                             "answer this proposal; nothing was changed.")  # fmt: skip
        paired, line = await _answer(session, runtime, proposal_id, user_id, merge)
        await recheck(
            session=session, workspace_id=runtime.workspace_id, config=runtime.config.crm,
            now=runtime.clock(), actor=actor, contact_ids=paired,
        )  # fmt: skip
    return line


async def _answer(
    session: AsyncSession, runtime: Runtime, proposal_id: int, user_id: str, merge: bool
) -> tuple[set[int], str]:
    """Merge or remember the pair; the contacts involved, and the line to show."""
    actor = f"slack:{user_id}"
    if merge:
        record = await accept_proposal(
            session=session, workspace_id=runtime.workspace_id, proposal_id=proposal_id,
            actor=actor,
        )  # fmt: skip
        await rescore_merged(session, runtime, [record.survivor_id])
        return paired_contacts([], [record]), (
            f"✅ Merged by {mention(user_id)} (merge #{record.id}; "
            f"`nudge merge undo {record.id}` puts them back)"
        )
    proposal = await reject_proposal(
        session=session, workspace_id=runtime.workspace_id, proposal_id=proposal_id,
        actor=actor,
    )  # fmt: skip
    return paired_contacts([proposal], []), (
        f"🙅 Not the same, said {mention(user_id)}: they will not be proposed again"
    )


async def handle_merge_action(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    respond: AsyncRespond,
) -> None:
    """Ack at once; merge or remember; replace the buttons with the outcome."""
    await ack()
    proposal_id = button_number(action)
    if proposal_id is None:
        await answer_privately(respond, "That button no longer points at a proposal.")
        return
    runtime = runtime_of(context)
    user_id = str(body["user"]["id"])
    try:
        line = await answer_proposal(
            runtime, proposal_id, user_id, merge=action.get("action_id") == MERGE_ACTIONS[0]
        )
    except MergeError as exc:
        await answer_privately(respond, str(exc))
        return
    container = body.get("container") or {}
    async with unit_of_work(runtime.sessions) as session:
        nudge = await nudge_by_message(
            session=session,
            channel_id=str(container.get("channel_id", "")),
            message_ts=str(container.get("message_ts", "")),
        )
    if nudge is None:
        await answer_privately(respond, line)
        return
    text, blocks = render_merge_answer(nudge, line)
    await respond(text=text, blocks=blocks, replace_original=True)


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    for action_id in ACTIONS:
        app.action(action_id)(handle_merge_action)
