"""All Block Kit rendering, with mrkdwn escaping and Slack's size limits in one place.

>>> escape_mrkdwn("<!channel> & <@U123>")
'&lt;!channel&gt; &amp; &lt;@U123&gt;'
>>> len(truncate("x" * 5000, 3000))
3000
"""

from __future__ import annotations

import re
from typing import Any

from models.nudge import Nudge

Block = dict[str, Any]
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_CONTEXT = 2000
AUTOMATED = "🤖 Automated by Nudge"
BAND_ICON = {"hot": "🔥", "warm": "🌤️", "cold": "🧊"}
FEEDBACK_ACTIONS = ("nudge_feedback_right", "nudge_feedback_wrong")


def escape_mrkdwn(text: str) -> str:
    """Make outside text inert in mrkdwn: no pings, no links, no entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut text to a Slack limit, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> Block:
    """A mrkdwn section within the size limit (text must already be escaped)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION)}}


def context(*parts: str) -> Block:
    """A context line; every automated message ends with one that says so."""
    text = truncate(" · ".join(parts), MAX_CONTEXT)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def automated_context(*extra: str) -> Block:
    """The disclosure every message carries."""
    return context(AUTOMATED, *extra)


_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def mention(user_id: str) -> str:
    """A user mention, only for something that is really a Slack user id.

    >>> mention("U0123ABC"), mention("<!here>")
    ('<@U0123ABC>', '&lt;!here&gt;')
    """
    return f"<@{user_id}>" if _SLACK_USER.fullmatch(user_id) else escape_mrkdwn(user_id)


def _lead_line(lead: dict[str, Any]) -> str:
    who = escape_mrkdwn(lead.get("name") or "Unknown contact")
    details = [escape_mrkdwn(v) for v in (lead.get("title"), lead.get("company")) if v]
    return f"*{who}*" + (f" — {', '.join(details)}" if details else "")


def _bullets(items: list[str]) -> str:
    return "\n".join(f"• {escape_mrkdwn(item)}" for item in items)


def _feedback_buttons(nudge_id: int | None) -> Block:
    value = str(nudge_id)
    return {
        "type": "actions",
        "block_id": f"feedback:{value}",
        "elements": [
            {
                "type": "button",
                "action_id": FEEDBACK_ACTIONS[0],
                "value": value,
                "text": {"type": "plain_text", "text": "👍 Right"},
            },
            {
                "type": "button",
                "action_id": FEEDBACK_ACTIONS[1],
                "value": value,
                "text": {"type": "plain_text", "text": "👎 Wrong"},
            },
        ],
    }


def _hot_lead(nudge: Nudge) -> tuple[str, list[Block]]:
    p = nudge.payload
    icon = BAND_ICON.get(p["band"], "")
    previous = p.get("previous")
    change = f" (up from {previous})" if previous is not None and previous < p["score"] else ""
    headline = f"{icon} {p['band'].capitalize()} lead: {_lead_line(p['lead'])}"
    blocks: list[Block] = [section(f"{headline}\nScore *{p['score']}*/100{change}")]
    if p.get("reasons_for"):
        blocks.append(section("*Why:*\n" + _bullets(p["reasons_for"])))
    if p.get("reasons_against"):
        blocks.append(section("*Holding it back:*\n" + _bullets(p["reasons_against"])))
    if p.get("action"):
        label, gain = p["action"]
        blocks.append(section(f"*Next step:* {escape_mrkdwn(label)} (about +{gain})"))
    blocks.append(_feedback_buttons(nudge.id))
    confidence = " (low confidence: still learning)" if p.get("low_confidence") else ""
    blocks.append(
        automated_context(
            f"model v{p['model_version']}{confidence}",
            f"after {escape_mrkdwn(str(p.get('trigger', '')))}",
            "react 👍/🔥 if right, 👎/🧊 if wrong",
        )
    )
    name = escape_mrkdwn(p["lead"].get("name") or "a lead")
    text = f"{p['band'].capitalize()} lead: {name}, score {p['score']}"
    return text, blocks[:MAX_BLOCKS]


def _feedback_ack(nudge: Nudge) -> tuple[str, list[Block]]:
    p = nudge.payload
    verb = "Took back" if p["removed"] else "Learned from"
    meaning = "right/hot" if p["label"] else "wrong/cold"
    delta = p["after"] - p["before"]
    sign = "+" if delta >= 0 else ""
    text = (
        f"{verb} {mention(p['user'])}'s :{p['signal']}: ({meaning}): "
        f"score {p['before']} → {p['after']} ({sign}{delta})"
    )
    return text, [section(text), automated_context(f"model v{p['model_version']}")]


RENDERERS = {"hot_lead": _hot_lead, "feedback_ack": _feedback_ack}


def render_nudge(nudge: Nudge) -> tuple[str, list[Block]]:
    """Fallback text and blocks for an outbox message."""
    return RENDERERS[nudge.cause](nudge)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _drift_line(event: dict[str, Any]) -> str:
    detail = event["detail"]
    when = event["detected_at"].strftime("%Y-%m-%d %H:%M UTC")
    changed = ", ".join(f"`{escape_mrkdwn(str(name))}`" for name in detail.get("changed", []))
    return (
        f"v{event['model_version']} ({escape_mrkdwn(str(event['detector']))}, {when}): "
        f"error {_percent(detail.get('error_before'))} → {_percent(detail.get('error_after'))}"
        f"; moved most: {changed or 'n/a'}"
    )


def render_model_health(health: dict[str, Any]) -> tuple[str, list[Block]]:
    """``/crm model``: confidence, prequential accuracy, calibration, feedback and drift."""
    confidence = (
        f"low confidence (fewer than {health['min_outcomes']} outcomes)"
        if health["low_confidence"]
        else "confident"
    )
    summary = (
        f"*Model* v{health['model_version']} · *Outcomes* {health['outcomes']} · {confidence}\n"
        f"*Accuracy* {_percent(health['accuracy'])} · *Log loss* {_figure(health['log_loss'])}"
        f" · *AUC* {_figure(health['auc'])} "
        f"(on {health['evaluated']} outcomes, each scored before it was learned)"
    )
    bins = [
        f"{row['low']:.0%}–{row['high']:.0%}: {row['count']} leads, {_percent(row['observed'])} won"
        for row in health["calibration"]
        if row["count"]
    ]
    feedback = ", ".join(f"{escape_mrkdwn(k)}: {v}" for k, v in sorted(health["feedback"].items()))
    drift = [_drift_line(event) for event in health["drift"]]
    last = health["last_update"]
    details = (
        f"*Calibration* {'; '.join(bins) or 'no outcomes yet'}\n"
        f"*Feedback* {feedback or 'none'}\n"
        f"*Drift* {health['drift_count']} detected"
        + ("".join(f"\n• {line}" for line in drift))
        + f"\n*Last update* {last.strftime('%Y-%m-%d %H:%M UTC') if last else 'never'}"
    )
    text = f"{summary}\n{details}"
    return text, [section(summary), section(details), automated_context()]
