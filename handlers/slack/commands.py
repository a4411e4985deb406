"""Slash command ``/crm <verb>``: acks within Slack's 3 s, then answers privately.

Verbs live in their own modules and register in :mod:`handlers.slack.verbs`;
this module holds ``help``, ``health`` (counts of what Nudge holds) and ``model``
(live model health: accuracy against outcomes, feedback counts, drift).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.runtime import Runtime
from handlers.blocks import automated_context, escape_mrkdwn, render_model_health, section
from handlers.slack import runtime_of
from handlers.slack.verbs import VERBS, Answer, Verb, verb
from models.db import unit_of_work
from models.services.access import viewer_for
from models.services.model_health import model_health
from models.services.roles import RoleRequiredError, allows
from models.services.stats import workspace_stats

COMMANDS = ("/crm",)
FEEDBACK_HINT = (
    "React 👍/🔥 on a nudge if it is right, 👎/🧊 if it is wrong: the model learns at once."
)


def help_text() -> str:
    """Every registered verb with its usage line."""
    lines = [f"• `/crm {v.usage}`" for v in sorted(VERBS.values(), key=lambda v: v.name)]
    return "*Nudge* listens to your team's mail and tells you who to call next.\n" + "\n".join(
        [*lines, FEEDBACK_HINT]
    )


def _plain(text: str) -> Answer:
    return text, [section(text), automated_context()]


@verb("help", "help — this message", role="guest")
async def _help(runtime: Runtime, user_id: str, args: str) -> Answer:
    return _plain(help_text())


def _health_text(stats: dict[str, Any]) -> str:
    def listing(counts: dict[str, int]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"

    return (
        f"*Activities* {listing(stats['activities'])}\n"
        f"*Skipped* {listing(stats['skipped'])}\n"
        f"*Contacts* {stats['contacts']} · *Accounts* {stats['accounts']} · "
        f"*Deals* {stats['deals']}\n"
        f"*Nudges* {listing(stats['nudges'])} · *Feedback* {stats['feedback']}\n"
        f"*Quarantine* {stats['quarantine']} · *Model* v{stats['model_version']}"
    )


@verb("health", "health — what Nudge holds: activities, contacts, nudges, quarantine, model")
async def _health(runtime: Runtime, user_id: str, args: str) -> Answer:
    async with unit_of_work(runtime.sessions) as session:
        stats = await workspace_stats(session=session, workspace_id=runtime.workspace_id)
    return _plain(_health_text(stats))


@verb("model", "model — model health: accuracy against outcomes, feedback, drift")
async def _model(runtime: Runtime, user_id: str, args: str) -> Answer:
    async with unit_of_work(runtime.sessions) as session:
        health = await model_health(
            session=session,
            workspace_id=runtime.workspace_id,
            min_outcomes=runtime.config.crm.scoring.min_outcomes,
        )
    return render_model_health(health)


async def _refusal(runtime: Runtime, user_id: str, chosen: Verb) -> str | None:
    """Why the caller may not use this verb, or None when their role allows it."""
    async with unit_of_work(runtime.sessions) as session:
        viewer = await viewer_for(
            session=session, workspace_id=runtime.workspace_id, slack_user_id=user_id
        )
    if allows(viewer.role, chosen.role):
        return None
    if not viewer.is_member and chosen.role == "rep":
        return (
            "You are not on the sales team in Nudge yet: ask an admin to add you "
            "(`crm.team` in app.yaml, or `/crm role`)."
        )
    return RoleRequiredError(needed=chosen.role, role=viewer.role,
                             action=f"use `/crm {chosen.name}`").reason  # fmt: skip


async def handle_crm_command(
    ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond
) -> None:
    """Ack within Slack's 3 s, then answer privately."""
    await ack()
    name, _, args = (command.get("text") or "").strip().partition(" ")
    chosen = VERBS.get(name.lower() or "help")
    if chosen is None:
        text, blocks = _plain(f"I don't know `{escape_mrkdwn(name)}`.\n\n{help_text()}")
    else:
        runtime, user_id = runtime_of(context), str(command.get("user_id", ""))
        refusal = await _refusal(runtime, user_id, chosen)
        if refusal is not None:
            text, blocks = _plain(refusal)
        else:
            text, blocks = await chosen.handler(runtime, user_id, args.strip())
    await respond(text=text, blocks=blocks, response_type="ephemeral")


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    for command in COMMANDS:
        app.command(command)(handle_crm_command)
