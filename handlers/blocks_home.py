"""Block Kit for the App Home tab: the person's dashboard, cut to Slack's 100 blocks."""

from __future__ import annotations

from typing import Any

from handlers.blocks import (
    BAND_ICON,
    OPEN_PROFILE,
    Block,
    automated_context,
    escape_mrkdwn,
    mention,
    section,
)
from handlers.blocks_profile import fit_lines, issue_line, plural
from models.services.home import FeedbackItem, HomeData, HotLead, TeamRow

MAX_HOME_BLOCKS = 100
TEAM_LIMIT = 20
BUTTONS = {"button_right": "👍 button", "button_wrong": "👎 button"}
_RESERVED = 2  # the "and N more" line and the closing disclosure


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _lead(lead: HotLead) -> Block:
    company = f" — {escape_mrkdwn(lead.company)}" if lead.company else ""
    why = "".join(f"\n• {escape_mrkdwn(r)}" for r in lead.reasons) or "\n_no reasons recorded_"
    block = section(
        f"{BAND_ICON['hot']} *{escape_mrkdwn(lead.name or 'Unnamed')}*{company} · *{lead.score}*"
        f"{why}"
    )
    block["accessory"] = {
        "type": "button",
        "action_id": OPEN_PROFILE,
        "value": str(lead.contact_id),
        "text": {"type": "plain_text", "text": "Open profile"},
    }
    return block


def _feedback_line(item: FeedbackItem) -> str:
    meaning = "right/hot" if item.label else "wrong/cold"
    about = escape_mrkdwn(item.contact_name) if item.contact_name else "a lead"
    change = (
        f" · score {item.score_before} → {item.score_after}"
        if item.score_before is not None and item.score_after is not None
        else ""
    )
    back = " _(taken back)_" if item.taken_back else ""
    how = BUTTONS.get(item.signal) or f":{escape_mrkdwn(item.signal)}:"
    return f"{item.at.strftime('%Y-%m-%d')} {how} ({meaning}) on {about}{change}{back}"


def _team_line(row: TeamRow) -> str:
    who = (
        mention(row.person.slack_user_id)
        if row.person.slack_user_id
        else escape_mrkdwn(row.person.name or "a teammate")
    )
    share = "" if row.issue_share is None else f" ({row.issue_share:.0%} of the team's)"
    issues = plural(row.open_issues, "open data issue")
    return f"{who}: {plural(row.hot_leads, 'hot lead')} · {issues}{share}"


def _confidence(home: HomeData) -> str:
    c = home.confidence
    accuracy = "n/a" if c.accuracy is None else f"{c.accuracy:.0%}"
    state = (
        f"low confidence: {c.outcomes} of the {c.min_outcomes} outcomes it needs"
        if c.low_confidence
        else f"confident: learned from {c.outcomes} outcomes"
    )
    return f"*Model* v{c.model_version} · {state} · accuracy {accuracy}"


def render_home(home: HomeData) -> dict[str, Any]:
    """The Home tab view: hot leads with reasons, hygiene tasks, feedback, model, team."""
    blocks: list[Block] = [_header("Your Nudge"), section(_confidence(home))]
    blocks.append(_header(f"Hot leads ({home.hot_total})"))
    if not home.hot_leads:
        blocks.append(section("No hot leads right now. Nudge tells you as soon as one heats up."))
    blocks.extend(_lead(lead) for lead in home.hot_leads)
    if home.hot_total > len(home.hot_leads):
        blocks.append(section(f"_…and {home.hot_total - len(home.hot_leads)} more_"))
    blocks.append(_header(f"Data to fix ({home.issues_total})"))
    issues = fit_lines([issue_line(i) for i in home.issues], total=home.issues_total)
    blocks.append(section(issues or "Nothing to fix. ✨"))
    blocks.append(_header("Your recent feedback"))
    feedback = fit_lines([_feedback_line(f) for f in home.feedback])
    blocks.append(section(feedback or "None yet: react 👍/🔥 or 👎/🧊 on a nudge to teach Nudge."))
    if home.team:
        blocks.append(_header("Your team"))
        rows = [_team_line(r) for r in home.team]
        blocks.append(section(fit_lines(rows, limit=TEAM_LIMIT)))
    if len(blocks) > MAX_HOME_BLOCKS - 1:
        cut = len(blocks) - (MAX_HOME_BLOCKS - _RESERVED)
        blocks = [*blocks[: MAX_HOME_BLOCKS - _RESERVED], section(f"_…{cut} more not shown_")]
    blocks.append(automated_context("refreshed when something changes for you"))
    return {"type": "home", "blocks": blocks}


def render_guest_home() -> dict[str, Any]:
    """The Home tab for someone not on the sales team."""
    return {
        "type": "home",
        "blocks": [
            _header("Nudge"),
            section(
                "You're not on the Nudge sales team yet, so there is nothing to show here. "
                "Ask an admin to add you."
            ),
            automated_context(),
        ],
    }
