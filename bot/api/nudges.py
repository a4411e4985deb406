"""``/nudges``: what Nudge told the team, and whether it went out (the text stays in Slack)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select

from bot.api.framework import Call, Operation, page_of
from bot.api.schemas import NudgeQuery, NudgeRead, Page
from models.nudge import Nudge


async def list_nudges(call: Call) -> Page[NudgeRead]:
    """Nudges in id order, filtered."""
    query: NudgeQuery = call.query
    where: list[ColumnElement[bool]] = [col(Nudge.workspace_id) == call.workspace_id]
    for value, column in (
        (query.state, Nudge.state),
        (query.cause, Nudge.cause),
        (query.contact_id, Nudge.contact_id),
        (query.recipient, Nudge.recipient_id),
    ):
        if value is not None:
            where.append(col(column) == value)
    if query.updated_since is not None:
        since = query.updated_since
        where.append(or_(col(Nudge.created_at) >= since, col(Nudge.sent_at) >= since))
    rows, next_path = await page_of(call, select(Nudge), Nudge.id, where)
    return Page[NudgeRead](
        data=[NudgeRead.model_validate(n, from_attributes=True) for n in rows], next=next_path
    )


OPERATIONS = (
    Operation("GET", "/nudges", "listNudges", "List nudges", "nudges:read", "nudges",
              list_nudges, Page[NudgeRead], query=NudgeQuery),
)  # fmt: skip
