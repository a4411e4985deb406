"""Block Kit for the manager digest (outbox cause ``digest``), from the facts in its payload.

The chart, when there is one, was uploaded privately by the bot before the message was
queued; an ``image`` block shows it by ``slack_file`` id, so the picture travels inside
the one outbox message (posted once, retried, threaded) instead of a second, unguarded post.
"""

from __future__ import annotations

from typing import Any

from handlers.blocks import (
    MAX_BLOCKS,
    MAX_HEADER,
    Block,
    automated_context,
    escape_mrkdwn,
    mention,
    section,
    truncate,
)
from models.nudge import Nudge

SCOPES = {"everyone": "everyone", "team": "your team", "own": "your records"}


def _owner(slack_id: str | None) -> str:
    return mention(slack_id) if slack_id else "unassigned"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _count(n: int, noun: str) -> str:
    """``1 deal``, ``2 deals``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _more(total: int, shown: int) -> str:
    return f"\n_…and {total - shown} more_" if total > shown else ""


def _hot_leads(hot: dict[str, Any]) -> str:
    lines = []
    for lead in hot["items"]:
        company = f", {escape_mrkdwn(lead['company'])}" if lead.get("company") else ""
        reason = f" — {escape_mrkdwn(lead['reason'])}" if lead.get("reason") else ""
        who = escape_mrkdwn(lead.get("name") or "Unknown contact")
        lines.append(f"• *{who}*{company}: {lead['score']} ({_owner(lead['owner'])}){reason}")
    body = "\n".join(lines) or "None today."
    return f"*🔥 Hot leads ({hot['total']})*\n{body}{_more(hot['total'], len(hot['items']))}"


def _at_risk(risk: dict[str, Any]) -> str:
    lines = []
    for deal in risk["items"]:
        amount = f", {deal['amount']:,.0f}" if deal.get("amount") else ""
        why = "; ".join(escape_mrkdwn(r) for r in deal["reasons"])
        name, stage = escape_mrkdwn(deal["name"]), escape_mrkdwn(deal["stage"])
        lines.append(f"• *{name}* ({stage}{amount}, {_owner(deal['owner'])}): {why}")
    body = "\n".join(lines) or "None."
    return f"*⚠️ Deals at risk ({risk['total']})*\n{body}{_more(risk['total'], len(risk['items']))}"


def _hygiene(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"• {_owner(row['owner'])}: {_count(row['open_issues'], 'open issue')}, "
        f"{_share(row['clean_share'])} of {_count(row['records'], 'record')} clean"
        for row in rows
    ]
    return "*🧹 Data hygiene by rep*\n" + ("\n".join(lines) or "No records yet.")


def _model(model: dict[str, Any]) -> str:
    accuracy = _share(model["accuracy"])
    auc = "n/a" if model["auc"] is None else f"{model['auc']:.2f}"
    confidence = " (low confidence: still learning)" if model["low_confidence"] else ""
    drift = model["drift_recent"]
    drift_text = (
        "; ".join(
            f"v{d['version']}"
            + (
                f" ({', '.join(escape_mrkdwn(str(c)) for c in d['changed'])})"
                if d["changed"]
                else ""
            )
            for d in drift
        )
        if drift
        else "none in the last day"
    )
    return (
        f"*🧠 Model* v{model['version']}{confidence}: accuracy {accuracy}, AUC {auc} "
        f"on {model['evaluated']} of {model['outcomes']} outcomes\n"
        f"Drift: {drift_text} ({model['drift_total']} in all)"
    )


def _feedback(feedback: dict[str, Any]) -> str:
    people = ", ".join(
        f"{_owner(row['user'])} 👍{row['right']} 👎{row['wrong']}" for row in feedback["by_user"]
    )
    return (
        f"*💬 Feedback, last 24 h*: 👍 {feedback['right']} right · 👎 {feedback['wrong']} wrong"
        + (f"\n{people}" if people else "")
    )


def render_digest(nudge: Nudge) -> tuple[str, list[Block]]:
    """The digest message: header, five sections, the chart if any, the disclosure."""
    p = nudge.payload
    kind = "Digest" if p.get("on_demand") else "Daily digest"
    title = f"{kind} for {SCOPES.get(p['scope'], 'you')} · {p['date']}"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(title, MAX_HEADER)}},
        section(_hot_leads(p["hot_leads"])),
        section(_at_risk(p["at_risk"])),
        section(_hygiene(p["hygiene"])),
        section(_model(p["model"])),
        section(_feedback(p["feedback"])),
    ]
    chart = p.get("chart")
    if chart:
        blocks.append(
            {
                "type": "image",
                "slack_file": {"id": chart["file_id"]},
                "alt_text": chart["alt"],
                "title": {"type": "plain_text", "text": "Pipeline and lead scores"},
            }
        )
    blocks.append(automated_context("manager digest", "`/crm digest` for a fresh one"))
    hot, risky = p["hot_leads"]["total"], p["at_risk"]["total"]
    text = f"{title}: {_count(hot, 'hot lead')}, {_count(risky, 'deal')} at risk"
    return text, blocks[:MAX_BLOCKS]
