"""Slack listeners, one module per surface; each exposes ``register(app)``."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.runtime import Runtime
from handlers.blocks import automated_context, section


def runtime_of(context: dict[str, Any]) -> Runtime:
    """The runtime the Bolt middleware put into the listener's context."""
    runtime = context["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


def button_number(action: dict[str, Any]) -> int | None:
    """The record id a button carries as its value, or None if the value is not one."""
    value = str(action.get("value", ""))
    return int(value) if value.isdigit() else None


async def answer_privately(respond: AsyncRespond, text: str) -> None:
    """Tell only the presser (``text`` is our own mrkdwn), with the automated label."""
    blocks = [section(text), automated_context()]
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
