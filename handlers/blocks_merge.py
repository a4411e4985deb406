"""The ``merge_proposal`` nudge: two contacts that may be one person, with Merge / Not the same."""

from __future__ import annotations

from typing import Any

from handlers.blocks import (
    MAX_BLOCKS,
    Block,
    actions,
    automated_context,
    button,
    escape_mrkdwn,
    section,
)
from models.nudge import Nudge

MERGE_ACTIONS = ("merge_proposal_merge", "merge_proposal_reject")
EVIDENCE_WORDS = {"name": "name", "company": "company", "phone": "phone", "email": "email"}


def _card(contact: dict[str, Any]) -> str:
    who = escape_mrkdwn(contact.get("name") or "Unnamed contact")
    details = [escape_mrkdwn(v) for v in (contact.get("title"), contact.get("company")) if v]
    details += [escape_mrkdwn(e) for e in contact.get("emails", [])]
    return f"*{who}*" + (f" — {', '.join(details)}" if details else "")


def _evidence(evidence: dict[str, float]) -> str:
    parts = [f"{EVIDENCE_WORDS.get(k, k)} {v:.0%}" for k, v in evidence.items()]
    return ", ".join(escape_mrkdwn(p) for p in parts)


def render_merge_proposal(nudge: Nudge) -> tuple[str, list[Block]]:
    """Both contacts side by side, what agrees, and the two answers."""
    p = nudge.payload
    first, second = p["contacts"]
    value = str(p["proposal_id"])
    blocks: list[Block] = [
        section(f"👥 *Same person?*\n• {_card(first)}\n• {_card(second)}"),
        section(f"Match {p['score']:.0%}: {_evidence(p.get('evidence', {}))}"),
        actions(
            f"merge_proposal:{value}",
            button("Merge", MERGE_ACTIONS[0], value, style="primary"),
            button("Not the same", MERGE_ACTIONS[1], value),
        ),
        automated_context("a merge keeps both histories and can be undone"),
    ]
    name = escape_mrkdwn(first.get("name") or "a contact")
    return f"Possible duplicate: {name}", blocks[:MAX_BLOCKS]


def render_merge_answer(nudge: Nudge, answer: str) -> tuple[str, list[Block]]:
    """The proposal once answered: the buttons replaced by what was done."""
    p = nudge.payload
    first, second = p["contacts"]
    text = f"{answer}\n• {_card(first)}\n• {_card(second)}"
    return answer, [section(text), automated_context()]
