"""The one ingestion path: store an activity once, resolve who it is about, score, nudge."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import Scorer
from models.activity import Activity, ActivityParticipant, Quarantine, RawItem, SkippedItem
from models.config import CrmConfig
from models.contact import Contact
from models.nudge import Nudge
from models.services.identity import find_contact, resolve_contact
from models.services.inputs import ActivityIn, PersonIn, QuarantineIn, SkippedIn
from models.services.nudges import queue_hot_lead
from models.services.scoring import Scored, rescore_contact
from models.services.timeline import add_participant, stitch_visitor
from models.services.workspaces import user_by_email
from models.types import utcnow
from models.workspace import User


@dataclass(slots=True)
class CaptureResult:
    """What one input caused."""

    stored: bool
    activity: Activity | None = None
    scored: list[Scored] = field(default_factory=list)
    nudges: list[Nudge] = field(default_factory=list)


async def _stored(session: AsyncSession, workspace_id: int, item: ActivityIn) -> Activity | None:
    query = select(Activity).where(
        Activity.workspace_id == workspace_id,
        Activity.source == item.source,
        Activity.external_id == item.external_id,
    )
    return (await session.exec(query)).first()


async def _store_raw(session: AsyncSession, workspace_id: int, item: ActivityIn) -> int | None:
    if item.raw_item_id is not None or item.raw is None:
        return item.raw_item_id
    raw = RawItem(
        workspace_id=workspace_id,
        source=item.source,
        external_id=item.external_id,
        content_type=item.content_type,
        body=item.raw,
        processed_at=utcnow(),
    )
    session.add(raw)
    await session.flush()
    return raw.id


def apply_update(activity: Activity, item: ActivityIn) -> bool:
    """Apply a second delivery of an item as its ``update`` mode says; True if it changed.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 1, 5, tzinfo=UTC)
    >>> stored = Activity(workspace_id=1, kind="call", source="t", external_id="CA1",
    ...                   occurred_at=at, facts={"status": "ringing"})
    >>> again = ActivityIn("t", "CA1", "call", at, (), facts={"status": "ringing"}, update="merge")
    >>> apply_update(stored, again)
    False
    >>> apply_update(stored, ActivityIn("t", "CA1", "call", at, (), facts={"duration_s": 90},
    ...                                 update="merge")), stored.facts["duration_s"]
    (True, 90)
    """
    if item.update == "revision":
        if item.revision is None or (activity.revision or 0) >= item.revision:
            return False
        activity.occurred_at, activity.revision = item.occurred_at, item.revision
        activity.facts = dict(item.facts)
    elif item.update == "merge":
        merged = activity.facts | item.facts
        if merged == activity.facts:
            return False
        activity.facts = merged
    else:
        return False
    activity.subject = item.subject or activity.subject
    activity.body = item.body or activity.body
    activity.direction = item.direction or activity.direction
    return True


async def _people(
    session: AsyncSession, workspace_id: int, item: ActivityIn
) -> list[tuple[PersonIn, Contact]]:
    """Each outside participant with their contact; an unknown anonymous visitor has none."""
    found = []
    for person in item.people:
        contact: Contact | None
        if person.email or person.phone:
            contact = await resolve_contact(
                session=session, workspace_id=workspace_id, person=person, source=item.source
            )
        else:
            contact = await find_contact(session=session, workspace_id=workspace_id, person=person)
        if contact is not None:
            found.append((person, contact))
    return found


async def record_activity(
    *,
    session: AsyncSession,
    scorer: Scorer,
    workspace_id: int,
    item: ActivityIn,
    config: CrmConfig,
    now: datetime,
) -> CaptureResult:
    """Store an activity once, on every outside participant's timeline; rescore; nudge.

    A repeated delivery changes nothing unless its ``update`` mode says it may.
    """
    activity = await _stored(session, workspace_id, item)
    if activity is not None and not apply_update(activity, item):
        return CaptureResult(stored=False)
    people = await _people(session, workspace_id, item)
    if activity is None:
        if not people and item.visitor_id is None:
            return CaptureResult(stored=False)
        activity = await _new_activity(session, workspace_id, item, people)
    rep = (
        await user_by_email(session=session, workspace_id=workspace_id, email=item.rep_email)
        if item.rep_email
        else None
    )
    result = CaptureResult(stored=True, activity=activity)
    contacts = {c.id: c for _p, c in people} | await _linked_contacts(session, activity)
    for person, contact in people:
        if person.visitor_id:
            await stitch_visitor(session=session, contact=contact, visitor_id=person.visitor_id)
    for contact in contacts.values():
        await _link(session, activity, contact, rep, item)
        await _score_and_nudge(session, scorer, contact, item, config, now, result)
    return result


async def _new_activity(
    session: AsyncSession,
    workspace_id: int,
    item: ActivityIn,
    people: list[tuple[PersonIn, Contact]],
) -> Activity:
    main = people[0][1] if people else None
    activity = Activity(
        workspace_id=workspace_id,
        kind=item.kind,
        source=item.source,
        external_id=item.external_id,
        contact_id=main.id if main else None,
        account_id=main.account_id if main else None,
        raw_item_id=await _store_raw(session, workspace_id, item),
        occurred_at=item.occurred_at,
        direction=item.direction,
        subject=item.subject,
        body=item.body,
        thread_key=item.thread_key,
        visitor_id=item.visitor_id,
        revision=item.revision,
        facts=item.facts,
    )
    session.add(activity)
    await session.flush()
    return activity


async def _linked_contacts(session: AsyncSession, activity: Activity) -> dict[int | None, Contact]:
    query = (
        select(Contact)
        .join(ActivityParticipant, col(ActivityParticipant.contact_id) == col(Contact.id))
        .where(ActivityParticipant.activity_id == activity.id)
    )
    return {c.id: c for c in (await session.exec(query)).all()}


async def _link(
    session: AsyncSession, activity: Activity, contact: Contact, rep: User | None, item: ActivityIn
) -> None:
    """Put the activity on the contact's timeline; the rep involved owns an unowned contact."""
    assert activity.id is not None
    assert contact.id is not None
    await add_participant(session=session, activity=activity, contact_id=contact.id)
    if rep is not None:
        activity.user_id = activity.user_id or rep.id
        contact.owner_id = contact.owner_id or rep.id
    if contact.last_touch_at is None or contact.last_touch_at < item.occurred_at:
        contact.last_touch_at = item.occurred_at
    session.add_all([activity, contact])
    await session.flush()


async def _score_and_nudge(
    session: AsyncSession,
    scorer: Scorer,
    contact: Contact,
    item: ActivityIn,
    config: CrmConfig,
    now: datetime,
    result: CaptureResult,
) -> None:
    scored = await rescore_contact(
        session=session, scorer=scorer, contact=contact, at=min(item.occurred_at, now)
    )
    result.scored.append(scored)
    nudge = await queue_hot_lead(
        session=session,
        contact=contact,
        scored=scored,
        trigger=f"{item.kind}: {item.subject}" if item.subject else item.kind,
        event_key=f"{item.source}:{item.external_id}",
        config=config,
        now=now,
    )
    if nudge is not None:
        result.nudges.append(nudge)


async def record_skipped(*, session: AsyncSession, workspace_id: int, item: SkippedIn) -> bool:
    """Count an item deliberately not captured (once per item)."""
    query = select(SkippedItem.id).where(
        SkippedItem.workspace_id == workspace_id,
        SkippedItem.source == item.source,
        SkippedItem.external_id == item.external_id,
    )
    if (await session.exec(query)).first() is not None:
        return False
    session.add(
        SkippedItem(
            workspace_id=workspace_id,
            source=item.source,
            external_id=item.external_id,
            reason=item.reason,
        )
    )
    await session.flush()
    return True


async def quarantine(
    *, session: AsyncSession, workspace_id: int | None, item: QuarantineIn
) -> Quarantine:
    """Keep input that could not be understood, with a readable reason (once per content)."""
    digest = hashlib.sha256(item.raw).hexdigest()
    query = select(Quarantine).where(Quarantine.source == item.source, Quarantine.digest == digest)
    found = (await session.exec(query)).first()
    if found is not None:
        return found
    row = Quarantine(
        workspace_id=workspace_id,
        source=item.source,
        external_id=item.external_id,
        reason=item.reason[:1000],
        body=item.raw,
        digest=digest,
    )
    session.add(row)
    await session.flush()
    return row
