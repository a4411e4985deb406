"""Slash command ``/crm``: ``help``, ``health`` (counts of what Nudge holds) and ``model``
(live model health: accuracy against outcomes, feedback counts, drift)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond

from handlers.blocks import automated_context, escape_mrkdwn, render_model_health, section
from handlers.slack import runtime_of
from models.db import unit_of_work
from models.services.model_health import model_health
from models.services.stats import workspace_stats

COMMANDS = ("/crm",)
HELP = (
    "*Nudge* listens to your team's mail and tells you who to call next.\n"
    "• `/crm help` — this message\n"
    "• `/crm health` — what Nudge holds: activities, contacts, nudges, quarantine, model\n"
    "• `/crm model` — model health: accuracy against outcomes, feedback, drift\n"
    "React 👍/🔥 on a nudge if it is right, 👎/🧊 if it is wrong: the model learns at once."
)


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


async def handle_crm_command(
    ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond
) -> None:
    """Ack within Slack's 3 s, then answer privately."""
    await ack()
    verb = (command.get("text") or "").strip().split(" ", 1)[0].lower() or "help"
    if verb == "health":
        runtime = runtime_of(context)
        async with unit_of_work(runtime.sessions) as session:
            stats = await workspace_stats(session=session, workspace_id=runtime.workspace_id)
        text = _health_text(stats)
    elif verb == "model":
        runtime = runtime_of(context)
        async with unit_of_work(runtime.sessions) as session:
            health = await model_health(
                session=session,
                workspace_id=runtime.workspace_id,
                min_outcomes=runtime.config.crm.scoring.min_outcomes,
            )
        text, blocks = render_model_health(health)
        await respond(text=text, blocks=blocks, response_type="ephemeral")
        return
    elif verb == "help":
        text = HELP
    else:
        text = f"I don't know `{escape_mrkdwn(verb)}`.\n\n{HELP}"
    await respond(text=text, blocks=[section(text), automated_context()], response_type="ephemeral")


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    for command in COMMANDS:
        app.command(command)(handle_crm_command)
