"""Messages to admins about governance: feedback that looks like an attempt to steer the model."""

from __future__ import annotations

from handlers.blocks import Block, automated_context, mention, section
from models.nudge import Nudge


def render_feedback_alert(nudge: Nudge) -> tuple[str, list[Block]]:
    """A burst of verdicts, or a one-sided run, by one person (C5.6)."""
    p = nudge.payload
    who = mention(str(p.get("user", "")))
    lines = []
    if "burst" in p:
        lines.append(f"• {p['burst']} verdicts in the last hour")
    if "one_sided" in p:
        way = "right/hot" if p["one_sided"]["label"] else "wrong/cold"
        lines.append(f"• their last {p['one_sided']['run']} verdicts were all {way}")
    text = f"⚠️ Unusual feedback from {who}:\n" + "\n".join(lines)
    hint = (
        "Verdicts over the hourly cap are kept but not learned. To undo their influence: "
        "`nudge model rebuild --without-user USER_ID`."
    )
    return text, [section(text), section(hint), automated_context("at most once a day per person")]
