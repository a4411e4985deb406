"""``/activities``: the timeline of every source (personal data: each read is audited)."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import col, select

from bot.api.framework import Call, Operation, audit_read, page_of, record_of
from bot.api.schemas import ActivityQuery, ActivityRead, Page
from models.activity import Activity, ActivityParticipant


def activity_read(activity: Activity) -> ActivityRead:
    """The API shape of an activity (its body stays out; the subject is in)."""
    return ActivityRead.model_validate(activity, from_attributes=True)


async def list_activities(call: Call) -> Page[ActivityRead]:
    """Activities in id order; ``contact_id`` finds every activity the contact took part in."""
    query: ActivityQuery = call.query
    where: list[ColumnElement[bool]] = [col(Activity.workspace_id) == call.workspace_id]
    if query.contact_id is not None:
        taking_part = select(ActivityParticipant.activity_id).where(
            ActivityParticipant.contact_id == query.contact_id
        )
        where.append(col(Activity.id).in_(taking_part))
    for value, column in (
        (query.account_id, Activity.account_id),
        (query.deal_id, Activity.deal_id),
        (query.kind, Activity.kind),
        (query.source, Activity.source),
    ):
        if value is not None:
            where.append(col(column) == value)
    if query.since is not None:
        where.append(col(Activity.occurred_at) >= query.since)
    if query.updated_since is not None:
        where.append(col(Activity.created_at) >= query.updated_since)
    rows, next_path = await page_of(call, select(Activity), Activity.id, where)
    await audit_read(call, "activity", [a.id for a in rows])
    return Page[ActivityRead](data=[activity_read(a) for a in rows], next=next_path)


async def get_activity(call: Call) -> ActivityRead:
    """One activity."""
    activity = await record_of(call, Activity, "activity")
    await audit_read(call, "activity", [activity.id], activity.id)
    return activity_read(activity)


OPERATIONS = (
    Operation("GET", "/activities", "listActivities", "List activities", "activities:read",
              "activities", list_activities, Page[ActivityRead], query=ActivityQuery),
    Operation("GET", "/activities/{id}", "getActivity", "Get an activity", "activities:read",
              "activities", get_activity, ActivityRead),
)  # fmt: skip
