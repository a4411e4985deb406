"""Block Kit for deal nudges: **stale deal** and **meeting tomorrow with an unprepared deal**."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.blocks import (
    MAX_BLOCKS,
    Block,
    automated_context,
    capped,
    escape_mrkdwn,
    nudge_buttons,
    section,
)
from models.nudge import Nudge
from models.services.delivery import zone

MAX_ISSUES_SHOWN = 10


def _deal_line(deal: dict[str, Any]) -> str:
    name = escape_mrkdwn(str(deal.get("name") or "Unnamed deal"))
    details = [escape_mrkdwn(str(deal["account"]))] if deal.get("account") else []
    details.append(escape_mrkdwn(str(deal.get("stage") or "no stage")))
    if deal.get("amount") is not None:
        details.append(f"{float(deal['amount']):,.0f}")
    return f"*{name}* — {', '.join(details)}"


def _day(iso: str | None) -> str:
    if not iso:
        return "never"
    moment = datetime.fromisoformat(iso)
    return f"{moment:%b} {moment.day}"


def render_stale_deal(nudge: Nudge) -> tuple[str, list[Block]]:
    """A deal nobody has touched for ``stale_days``, with what to do about it."""
    p = nudge.payload
    deal = p["deal"]
    idle = int(p.get("idle_days") or 0)
    last = p.get("last_activity")
    since = f"last activity {_day(last)}" if last else "no activity recorded since it was opened"
    blocks: list[Block] = [
        section(f"🕸️ Stale deal: {_deal_line(deal)}\nNothing for *{idle} days* ({since})."),
        section("*Next step:* reach out to the account, or mark it contacted if you already did."),
        nudge_buttons(nudge, fix_data=p.get("fix_data")),
        automated_context(f"stale after {int(p.get('stale_days') or 0)} days without activity"),
    ]
    name = escape_mrkdwn(str(deal.get("name") or "a deal"))
    return f"Stale deal: {name}, {idle} days without activity", blocks


def _meeting_time(meeting: dict[str, Any]) -> str:
    local = datetime.fromisoformat(meeting["at"]).astimezone(zone(meeting.get("tz")))
    return f"{local:%a %b} {local.day}, {local:%H:%M} ({escape_mrkdwn(local.tzname() or 'UTC')})"


def _problem_lines(p: dict[str, Any]) -> list[str]:
    issues = [f"• {escape_mrkdwn(str(i.get('message') or i.get('rule')))}" for i in p["issues"]]
    lines = capped(issues, MAX_ISSUES_SHOWN, more="• …and {n} more data problems")
    if p.get("no_next_step"):
        lines.append("• No next step agreed on a recent call or note")
    if p.get("stale"):
        lines.append(f"• No activity since {_day(p.get('last_activity'))}")
    return lines


def render_meeting_prep(nudge: Nudge) -> tuple[str, list[Block]]:
    """A meeting tomorrow about a deal with open problems, listed so they can be fixed first."""
    p = nudge.payload
    meeting = p["meeting"]
    title = escape_mrkdwn(str(meeting.get("subject") or "Meeting"))
    blocks: list[Block] = [
        section(
            f"📅 Tomorrow: *{title}* at {_meeting_time(meeting)}\n"
            f"Deal {_deal_line(p['deal'])} is not ready:"
        ),
        section("\n".join(_problem_lines(p))),
    ]
    issues = p.get("issues") or []
    fix = str(issues[0]["id"]) if issues and issues[0].get("id") is not None else None
    blocks.append(nudge_buttons(nudge, fix_data=p.get("fix_data") or fix))
    blocks.append(automated_context("meetings are checked the day before"))
    deal = escape_mrkdwn(str(p["deal"].get("name") or "a deal"))
    return f"Meeting tomorrow: {deal} needs preparing", blocks[:MAX_BLOCKS]
