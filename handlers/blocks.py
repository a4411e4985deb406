"""All Block Kit rendering, with mrkdwn escaping and Slack's size limits in one place.

Limits: 50 blocks a message (:data:`MAX_BLOCKS`), 3,000 characters a section text, 150 a
header, 2,000 a context, 75 a button's text and 2,000 its value. :func:`section`,
:func:`header`, :func:`context` and :func:`button` cut to them. Long lists:
:func:`capped` shows the first items and "…and N more" in one message; :class:`Page` and
:func:`page_buttons` let a private answer show a list a page at a time, with Previous /
Next. Outside text must go through
:func:`escape_mrkdwn` first.

>>> escape_mrkdwn("<!channel> & <@U123>")
'&lt;!channel&gt; &amp; &lt;@U123&gt;'
>>> len(truncate("x" * 5000, 3000))
3000
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.nudge import Nudge

Block = dict[str, Any]
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_CONTEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ELEMENTS = 25
AUTOMATED = "🤖 Automated by Nudge"
BAND_ICON = {"hot": "🔥", "warm": "🌤️", "cold": "🧊"}
FEEDBACK_ACTIONS = ("nudge_feedback_right", "nudge_feedback_wrong")
MARK_CONTACTED = "nudge_mark_contacted"
SNOOZE_ACTIONS = {"nudge_snooze_day": 1, "nudge_snooze_week": 7}
OPEN_PROFILE = "open_profile"
FIX_DATA = "fix_data"
PAGE_PREVIOUS = "page_previous"
PAGE_NEXT = "page_next"
PAGE_BLOCK = "page:"


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


def without_images(blocks: list[Block]) -> list[Block] | None:
    """The blocks with their pictures replaced by a line saying so; None if there were none.

    >>> without_images([{"type": "image"}, automated_context()])[0]["elements"][0]["text"]
    '(the chart could not be shown)'
    >>> without_images([automated_context()]) is None
    True
    """
    if not any(block.get("type") == "image" for block in blocks):
        return None
    note = context("(the chart could not be shown)")
    return [note if block.get("type") == "image" else block for block in blocks]


def header(text: str) -> Block:
    """A header (plain text, so nothing in it is live) within its limit."""
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER)}}


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    """A button; its plain text and value are cut to Slack's limits."""
    element: Block = {
        "type": "button",
        "action_id": action_id,
        "value": value[:MAX_BUTTON_VALUE],
        "text": {"type": "plain_text", "text": truncate(text, MAX_BUTTON_TEXT), "emoji": True},
    }
    if style is not None:
        element["style"] = style
    return element


def actions(block_id: str, *elements: Block) -> Block:
    """A row of buttons (at most 25, as Slack allows)."""
    return {"type": "actions", "block_id": block_id,
            "elements": list(elements[:MAX_ACTION_ELEMENTS])}  # fmt: skip


def capped(lines: list[str], limit: int, *, more: str = "…and {n} more") -> list[str]:
    """The first ``limit`` lines and, if some are left out, one line saying how many.

    >>> capped(["a", "b", "c"], 2)
    ['a', 'b', '…and 1 more']
    >>> capped(["a"], 2)
    ['a']
    """
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], more.format(n=len(lines) - limit)]


def line_sections(title: str, lines: list[str]) -> list[Block]:
    """``title`` then the lines (already escaped), in as few sections as fit Slack's size limit.

    >>> [len(b["text"]["text"]) for b in line_sections("T", ["x" * 2000, "y" * 2000])]
    [2004, 2002]
    """
    texts = [title]
    for line in lines:
        bullet = f"• {line}"
        if len(texts[-1]) + 1 + len(bullet) > MAX_SECTION:
            texts.append(bullet)
        else:
            texts[-1] += f"\n{bullet}"
    return [section(text) for text in texts]


@dataclass(frozen=True, slots=True)
class Page:
    """Page ``number`` (from 1) of the list ``kind`` for ``key``; a button's value names it.

    >>> Page.parse(Page("pipeline", "<@U0REP02>", 3).value)
    Page(kind='pipeline', key='<@U0REP02>', number=3)
    >>> Page.parse("nonsense") is None
    True
    """

    kind: str
    key: str
    number: int = 1

    @property
    def value(self) -> str:
        """What a button showing this page carries."""
        return f"{self.kind}:{self.number}:{self.key}"

    @classmethod
    def parse(cls, value: str) -> Page | None:
        """The page a button's value names, or None if it names none."""
        kind, _, rest = value.partition(":")
        number, colon, key = rest.partition(":")
        if not (kind and colon and number.isdigit() and int(number) >= 1):
            return None
        return cls(kind, key, int(number))

    def to(self, number: int) -> Page:
        """Another page of the same list."""
        return Page(self.kind, self.key, number)


def page_count(total: int, size: int) -> int:
    """How many pages of ``size`` items ``total`` items fill (an empty list is one page).

    >>> page_count(0, 10), page_count(10, 10), page_count(11, 10)
    (1, 1, 2)
    """
    return max(1, -(-total // size))


def page_buttons(page: Page, pages: int) -> list[Block]:
    """Previous / Next between the pages of a list; nothing when it fits on one."""
    elements = []
    if page.number > 1:
        elements.append(button("◀ Previous", PAGE_PREVIOUS, page.to(page.number - 1).value))
    if page.number < pages:
        elements.append(button("Next ▶", PAGE_NEXT, page.to(page.number + 1).value))
    return [actions(f"{PAGE_BLOCK}{page.kind}", *elements)] if elements else []


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


def follow_up_buttons(nudge: Nudge) -> list[Block]:
    """Snooze 1 day / 1 week (the nudge id) and, about a contact, Open profile (its id)."""
    value = str(nudge.id)
    elements = [
        button("💤 Snooze 1 day", "nudge_snooze_day", value),
        button("💤 Snooze 1 week", "nudge_snooze_week", value),
    ]
    if nudge.contact_id is not None:
        elements.append(button("👤 Open profile", OPEN_PROFILE, str(nudge.contact_id)))
    return elements


def nudge_buttons(nudge: Nudge, *, fix_data: str | None = None) -> Block:
    """Mark contacted, the :func:`follow_up_buttons`, then Fix data (with the value given)."""
    value = str(nudge.id)
    elements = [
        button("✅ Mark contacted", MARK_CONTACTED, value, style="primary"),
        *follow_up_buttons(nudge),
    ]
    if fix_data is not None:
        elements.append(button("🛠 Fix data", FIX_DATA, fix_data))
    return actions(f"nudge:{value}", *elements)


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
    blocks.append(nudge_buttons(nudge))
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


def _digest(nudge: Nudge) -> tuple[str, list[Block]]:
    from handlers.blocks_digest import render_digest  # it builds on this module's helpers

    return render_digest(nudge)


def _data_incomplete(nudge: Nudge) -> tuple[str, list[Block]]:
    from handlers.blocks_hygiene import render_data_incomplete  # it builds on these helpers

    return render_data_incomplete(nudge)


def _stale_deal(nudge: Nudge) -> tuple[str, list[Block]]:
    from handlers.blocks_deals import render_stale_deal  # it builds on these helpers

    return render_stale_deal(nudge)


def _meeting_prep(nudge: Nudge) -> tuple[str, list[Block]]:
    from handlers.blocks_deals import render_meeting_prep  # it builds on these helpers

    return render_meeting_prep(nudge)


def _merge_proposal(nudge: Nudge) -> tuple[str, list[Block]]:
    from handlers.blocks_merge import render_merge_proposal  # it builds on these helpers

    return render_merge_proposal(nudge)


def _feedback_alert(nudge: Nudge) -> tuple[str, list[Block]]:
    from handlers.blocks_governance import render_feedback_alert  # it builds on these helpers

    return render_feedback_alert(nudge)


RENDERERS = {
    "feedback_alert": _feedback_alert,
    "merge_proposal": _merge_proposal,
    "hot_lead": _hot_lead,
    "stale_deal": _stale_deal,
    "meeting_prep": _meeting_prep,
    "feedback_ack": _feedback_ack,
    "digest": _digest,
    "data_incomplete": _data_incomplete,
}


def render_nudge(nudge: Nudge) -> tuple[str, list[Block]]:
    """Fallback text and blocks for an outbox message, with what people did with it."""
    text, blocks = RENDERERS[nudge.cause](nudge)
    return text, with_notes(blocks, nudge.notes)


def with_notes(blocks: list[Block], notes: dict[str, Any]) -> list[Block]:
    """Show who marked the message contacted or snoozed it, above the disclosure.

    Once contacted, the Mark contacted button goes away.
    """
    lines = note_lines(notes)
    if not lines:
        return blocks
    shown = [_without(block, MARK_CONTACTED if "contacted" in notes else None) for block in blocks]
    shown = [block for block in shown if block.get("type") != "actions" or block["elements"]]
    note = section("\n".join(lines))
    if not shown:
        return [note]
    return [*shown[:-1][: MAX_BLOCKS - 2], note, shown[-1]]


def _when(iso: str) -> str:
    """A stored UTC moment as people read it: ``Nov 25, 14:05 UTC``."""
    moment = datetime.fromisoformat(iso)
    return f"{moment:%b} {moment.day}, {moment:%H:%M} UTC"


def note_lines(notes: dict[str, Any]) -> list[str]:
    """What people did with a nudge, one line each.

    >>> note_lines({"contacted": {"by": "U0REP01", "at": "2026-11-25T14:05:00+00:00"}})
    ['✅ Marked contacted by <@U0REP01> on Nov 25, 14:05 UTC']
    """
    lines = []
    if contacted := notes.get("contacted"):
        lines.append(
            f"✅ Marked contacted by {mention(contacted['by'])} on {_when(contacted['at'])}"
        )
    if snoozed := notes.get("snoozed"):
        lines.append(
            f"💤 Snoozed by {mention(snoozed['by'])} until {_when(snoozed['until'])}: "
            "no nudges about this until then"
        )
    return lines


def _without(block: Block, action_id: str | None) -> Block:
    if action_id is None or block.get("type") != "actions":
        return block
    elements = [e for e in block["elements"] if e.get("action_id") != action_id]
    return {**block, "elements": elements}


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
