"""Block Kit for hygiene: the **data incomplete** nudge, its closing line, and ``/crm rules``."""

from __future__ import annotations

from typing import Any

from handlers.blocks import (
    FIX_DATA,
    MAX_BLOCKS,
    Block,
    actions,
    automated_context,
    button,
    escape_mrkdwn,
    follow_up_buttons,
    mention,
    section,
)
from models.hygiene_config import HygieneConfig
from models.nudge import Nudge

FIX_ACTION = FIX_DATA
RECORD_LABEL = {"deal": "Deal", "contact": "Contact"}


def _actor(actor: str | None) -> str:
    """Who closed an issue, as a mention when it was someone in Slack."""
    if actor and actor.startswith("slack:"):
        return f" by {mention(actor.removeprefix('slack:'))}"
    return f" (from {escape_mrkdwn(actor)})" if actor else ""


def _subject(p: dict[str, Any]) -> str:
    label = RECORD_LABEL.get(p["entity_type"], "Record")
    name = escape_mrkdwn(p.get("record") or f"#{p['entity_id']}")
    return f"{label} *{name}*"


def _closing(p: dict[str, Any]) -> str:
    by = _actor(p.get("by"))
    return {
        "fixed": f"✅ Fixed{by}: {_subject(p)} is complete for this rule.",
        "dismissed": f"👌 Marked as fine{by}: {_subject(p)} will not be flagged for this again "
        "unless it changes.",
        "rule_off": f"Closed: the rule `{escape_mrkdwn(p['rule'])}` is turned off.",
    }.get(p["state"], f"Closed: {_subject(p)}.")


def _buttons(nudge: Nudge) -> Block:
    """**Fix data** first; Snooze 1 day / 1 week when the nudge is about a record; Open profile
    when that record is a contact (the buttons of every nudge, served by the same listeners)."""
    issue_id = str(nudge.payload["issue_id"])
    fix = button("🛠 Fix data", FIX_ACTION, issue_id, style="primary")
    about_a_record = nudge.contact_id is not None or nudge.deal_id is not None
    return actions(f"fix:{issue_id}", fix, *(follow_up_buttons(nudge) if about_a_record else ()))


def render_data_incomplete(nudge: Nudge) -> tuple[str, list[Block]]:
    """The owner's nudge naming the problem, with its buttons; or its closing line."""
    p = nudge.payload
    if p["state"] != "open":
        text = _closing(p)
        return text, [section(text), automated_context()]
    problem = escape_mrkdwn(p["problem"])
    text = f"🧹 Data incomplete: {_subject(p)} {problem}."
    blocks: list[Block] = [
        section(text),
        _buttons(nudge),
        automated_context(
            f"hygiene rule `{escape_mrkdwn(p['rule'])}`",
            "the change was saved; nothing was blocked",
        ),
    ]
    return text, blocks[:MAX_BLOCKS]


def _parameter_text(parameters: dict[str, object]) -> str:
    def shown(value: object) -> str:
        if isinstance(value, dict):
            return "; ".join(f"{k}: {shown(v)}" for k, v in value.items())
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value) or "none"
        return str(value)

    return ", ".join(f"{k} = {shown(v)}" for k, v in parameters.items()) or "no parameters"


def render_rules(config: HygieneConfig) -> tuple[str, list[Block]]:
    """``/crm rules``: the active hygiene rules with their parameters, then the ones turned off."""
    active = [
        f"• `{entry.rule}` — {escape_mrkdwn(_parameter_text(entry.parameters()))}"
        for entry in config.active()
    ]
    off = [f"`{entry.rule}`" for entry in config.rules if not entry.enabled]
    text = "*Hygiene rules* (checked on every change; nothing is ever blocked)\n" + (
        "\n".join(active) or "No rule is active."
    )
    if off:
        text += "\n*Turned off:* " + ", ".join(off)
    return text, [section(text), automated_context("rules live in app.yaml under crm.hygiene")]
