"""The one ingestion path: store an activity once, resolve who it is about, score, nudge."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import Scorer
from models.activity import Activity, ActivityParticipant, Quarantine, RawItem, SkippedItem
from models.config import CrmConfig
from models.contact import Contact
from models.nudge import Nudge
from models.services.identity import resolve_contact
from models.services.inputs import ActivityIn, QuarantineIn, SkippedIn
from models.services.nudges import queue_hot_lead
from models.services.scoring import Scored, rescore_contact
from models.services.workspaces import user_by_email


@dataclass(slots=True)
class CaptureResult:
    """What one input caused."""

    stored: bool
    activity: Activity | None = None
    scored: list[Scored] = field(default_factory=list)
    nudges: list[Nudge] = field(default_factory=list)


async def _already_stored(session: AsyncSession, workspace_id: int, item: ActivityIn) -> bool:
    query = select(Activity.id).where(
        Activity.workspace_id == workspace_id,
        Activity.source == item.source,
        Activity.external_id == item.external_id,
    )
    return (await session.exec(query)).first() is not None


async def _store_raw(session: AsyncSession, workspace_id: int, item: ActivityIn) -> int | None:
    if item.raw is None:
        return None
    raw = RawItem(
        workspace_id=workspace_id,
        source=item.source,
        external_id=item.external_id,
        content_type=item.content_type,
        body=item.raw,
    )
    session.add(raw)
    await session.flush()
    return raw.id


async def record_activity(
    *,
    session: AsyncSession,
    scorer: Scorer,
    workspace_id: int,
    item: ActivityIn,
    config: CrmConfig,
    now: datetime,
) -> CaptureResult:
    """Store an activity once, on every outside participant's timeline; rescore; nudge."""
    if not item.people or await _already_stored(session, workspace_id, item):
        return CaptureResult(stored=False)
    raw_id = await _store_raw(session, workspace_id, item)
    rep = (
        await user_by_email(session=session, workspace_id=workspace_id, email=item.rep_email)
        if item.rep_email
        else None
    )
    contacts = [
        await resolve_contact(
            session=session, workspace_id=workspace_id, person=person, source=item.source
        )
        for person in item.people
    ]
    activity = Activity(
        workspace_id=workspace_id,
        kind=item.kind,
        source=item.source,
        external_id=item.external_id,
        contact_id=contacts[0].id,
        account_id=contacts[0].account_id,
        user_id=rep.id if rep else None,
        raw_item_id=raw_id,
        occurred_at=item.occurred_at,
        direction=item.direction,
        subject=item.subject,
        body=item.body,
        thread_key=item.thread_key,
        facts=item.facts,
    )
    session.add(activity)
    await session.flush()
    assert activity.id is not None
    result = CaptureResult(stored=True, activity=activity)
    for contact in {c.id: c for c in contacts}.values():
        assert contact.id is not None
        session.add(
            ActivityParticipant(
                workspace_id=workspace_id, activity_id=activity.id, contact_id=contact.id
            )
        )
        if contact.owner_id is None and rep is not None:
            contact.owner_id = rep.id
        if contact.last_touch_at is None or contact.last_touch_at < item.occurred_at:
            contact.last_touch_at = item.occurred_at
        await session.flush()
        await _score_and_nudge(session, scorer, contact, item, config, now, result)
    return result


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
