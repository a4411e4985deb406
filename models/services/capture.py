"""The one ingestion path: store an activity once, resolve who it is about, score, nudge."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import Scorer
from models.activity import Activity, ActivityParticipant, Quarantine, RawItem, SkippedItem
from models.config import CrmConfig
from models.contact import Contact
from models.db import insert_rows
from models.services.audit import record_audit
from models.services.dedupe import dedupe
from models.services.forgotten import without_forgotten
from models.services.hygiene import paired_contacts, recheck
from models.services.identity import find_contact, resolve_contacts
from models.services.inputs import ActivityIn, PersonIn, QuarantineIn, SkippedIn
from models.services.nudges import LeadEvent, queue_hot_leads
from models.services.scoring import rescore_contacts, rescore_ids
from models.services.text import cut, fit_id, storable
from models.services.timeline import add_participant, participants_of, stitch_visitor
from models.services.workspaces import team_by_email
from models.types import utcnow
from models.workspace import User


@dataclass(slots=True)
class CaptureResult:
    """What a batch of inputs caused: per item 'stored' or 'duplicate'."""

    outcomes: list[str] = field(default_factory=list)


def _key(item: ActivityIn) -> tuple[str, str]:
    return item.source, item.external_id


async def _stored(
    session: AsyncSession, workspace_id: int, items: Sequence[ActivityIn]
) -> dict[tuple[str, str], Activity]:
    found: dict[tuple[str, str], Activity] = {}
    for source in {item.source for item in items}:
        ids = [item.external_id for item in items if item.source == source]
        params = {"workspace_id": workspace_id, "source": source, "ids": ids}
        rows = await session.exec(_STORED, params=params)
        found |= {(source, a.external_id): a for a in rows.all()}
    return found


_STORED = select(Activity).where(
    Activity.workspace_id == bindparam("workspace_id"),
    Activity.source == bindparam("source"),
    col(Activity.external_id).in_(bindparam("ids", expanding=True)),
)
"""Activities already stored under these keys (built once: asked on every capture)."""


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
        if item.revision is not None and (activity.revision or 0) > item.revision:
            return False
        merged = activity.facts | item.facts
        if merged == activity.facts:
            return False
        activity.facts = merged
    else:
        return False
    activity.subject = cut(item.subject, 500) or activity.subject
    activity.body = item.body or activity.body
    activity.direction = item.direction or activity.direction
    return True


async def _people(
    session: AsyncSession, workspace_id: int, items: Sequence[ActivityIn], created: list[Contact]
) -> list[list[tuple[PersonIn, Contact]]]:
    """Each item's outside participants with their contacts (new ones also go to ``created``)."""
    if not items:
        return []
    named = [p for item in items for p in item.people if p.email or p.phone]
    resolved = iter(
        await resolve_contacts(
            session=session,
            workspace_id=workspace_id,
            people=named,
            source=items[0].source,
            created=created,
        )
        if named
        else []
    )
    found: list[list[tuple[PersonIn, Contact]]] = []
    for item in items:
        pairs = []
        for person in item.people:
            contact = (
                next(resolved)
                if person.email or person.phone
                else await find_contact(session=session, workspace_id=workspace_id, person=person)
            )
            if contact is not None:
                pairs.append((person, contact))
        found.append(pairs)
    return found


def _activity_row(
    workspace_id: int, item: ActivityIn, main: Contact | None, rep: User | None
) -> dict[str, Any]:
    """The new activity as a plain row (bulk inserts skip the ORM's per-object cost)."""
    return {
        "workspace_id": workspace_id,
        "kind": item.kind,
        "source": item.source,
        "external_id": item.external_id,
        "contact_id": main.id if main else None,
        "account_id": main.account_id if main else None,
        "deal_id": None,
        "user_id": rep.id if rep else None,
        "raw_item_id": item.raw_item_id,
        "occurred_at": item.occurred_at,
        "direction": item.direction,
        "subject": cut(item.subject, 500),
        "body": storable(item.body) if item.body else item.body,
        "thread_key": cut(item.thread_key, 500),
        "visitor_id": cut(item.visitor_id, 200),
        "revision": item.revision,
        "facts": item.facts,
        "created_at": utcnow(),
    }


async def _insert_new(
    session: AsyncSession, workspace_id: int, fresh: list[tuple[ActivityIn, dict[str, Any]]]
) -> list[int]:
    """Raw items, then activities, each in one statement; returns the activities' ids."""
    with_raw = [
        (item, row) for item, row in fresh if item.raw is not None and item.raw_item_id is None
    ]
    raw_ids = await insert_rows(
        session,
        RawItem,
        [
            {"workspace_id": workspace_id, "source": item.source, "external_id": item.external_id,
             "content_type": item.content_type, "body": item.raw, "received_at": utcnow(),
             "processed_at": utcnow(), "error": None}
            for item, _row in with_raw
        ],
    )  # fmt: skip
    for (_item, row), raw_id in zip(with_raw, raw_ids, strict=True):
        row["raw_item_id"] = raw_id
    return await insert_rows(session, Activity, [row for _item, row in fresh])


@dataclass(slots=True)
class _Touched:
    """An activity of this batch that changes timelines: new (an id) or updated (its row)."""

    item: ActivityIn
    pairs: list[tuple[PersonIn, Contact]]
    rep: User | None
    activity_id: int = 0
    updated: Activity | None = None


async def record_activities(
    *,
    session: AsyncSession,
    scorer: Scorer,
    workspace_id: int,
    items: Sequence[ActivityIn],
    config: CrmConfig,
    now: datetime,
) -> CaptureResult:
    """Store activities once, on every outside participant's timeline; rescore; nudge.

    Works on a batch in a handful of queries: a repeated delivery changes nothing
    unless its ``update`` mode says it may; every contact touched is rescored once, as
    of its newest activity in the batch.
    """
    result = CaptureResult()
    if not items:
        return result
    items = [replace(item, external_id=fit_id(item.external_id)) for item in items]
    items = await without_forgotten(session=session, workspace_id=workspace_id, items=items)
    firsts: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        firsts.setdefault(_key(item), index)
    if len(firsts) < len(items):
        return await _in_order(session, scorer, workspace_id, items, firsts, config, now)
    stored = await _stored(session, workspace_id, items)
    live: list[int] = []
    for index, item in enumerate(items):
        activity = stored.get(_key(item))
        changed = activity is None or apply_update(activity, item)
        result.outcomes.append("stored" if changed else "duplicate")
        if changed:
            live.append(index)
    reps = await team_by_email(session=session, workspace_id=workspace_id)
    created: list[Contact] = []
    people = await _people(session, workspace_id, [items[i] for i in live], created)
    fresh: list[tuple[ActivityIn, dict[str, Any]]] = []
    touched: list[_Touched] = []
    for index, pairs in zip(live, people, strict=True):
        item = items[index]
        entry = _Touched(item, pairs, reps.get((item.rep_email or "").lower()))
        entry.updated = stored.get(_key(item))
        if entry.updated is None:
            if not pairs and item.visitor_id is None and item.update != "merge":
                result.outcomes[index] = "duplicate"
                continue
            fresh.append(
                (item, _activity_row(workspace_id, item, pairs[0][1] if pairs else None, entry.rep))
            )
        touched.append(entry)
    new_ids = await _insert_new(session, workspace_id, fresh)
    ids = iter(new_ids)
    for entry in touched:
        entry.activity_id = (entry.updated.id or 0) if entry.updated else next(ids)
    contacts = await _link_all(session, workspace_id, touched, now)
    await recheck(session=session, workspace_id=workspace_id, config=config, now=now,
                  actor="capture", contact_ids=list(contacts))  # fmt: skip
    await _score_and_nudge(session, scorer, contacts, config, now)
    deduped = await dedupe(session=session, workspace_id=workspace_id, config=config, new=created)
    survivors = {record.survivor_id for record in deduped.merges}
    await rescore_ids(session=session, scorer=scorer, contact_ids=survivors, now=now)
    paired = paired_contacts(deduped.proposals, deduped.merges)
    await recheck(session=session, workspace_id=workspace_id, config=config, now=now,
                  actor="capture", contact_ids=paired)  # fmt: skip
    await _audit_batch(session, workspace_id, touched, new_ids, created)
    return result


def _id_ranges(ids: Sequence[int]) -> list[list[int]]:
    """Ids as ``[first, last]`` runs of consecutive ids (a batch's new rows are mostly one run).

    >>> _id_ranges([7, 3, 4, 5, 9, 8])
    [[3, 5], [7, 9]]
    """
    runs: list[list[int]] = []
    for value in sorted(ids):
        if runs and runs[-1][1] == value - 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return runs


async def _audit_batch(
    session: AsyncSession,
    workspace_id: int,
    touched: Sequence[_Touched],
    new_ids: Sequence[int],
    created: Sequence[Contact],
) -> None:
    """One audit row for what a batch stored (ids only), last: the chain's lock is held briefly."""
    if not touched:
        return
    updated = [e.activity_id for e in touched if e.updated is not None]
    contacts = [c.id for c in created if c.id is not None]
    await record_audit(
        session=session, workspace_id=workspace_id,
        actor="capture:" + ",".join(sorted({e.item.source for e in touched})),
        action="capture.stored", target_type="capture_batch",
        after={"activities_created": len(new_ids), "activity_ids": _id_ranges(new_ids),
               "activities_updated": len(updated), "updated_activity_ids": _id_ranges(updated),
               "contacts_created": len(contacts), "contact_ids": _id_ranges(contacts)},
    )  # fmt: skip


async def _in_order(
    session: AsyncSession,
    scorer: Scorer,
    workspace_id: int,
    items: Sequence[ActivityIn],
    firsts: dict[tuple[str, str], int],
    config: CrmConfig,
    now: datetime,
) -> CaptureResult:
    """A batch naming an item twice: first occurrences, then the rest, in their order."""
    later = [i for i in range(len(items)) if firsts[_key(items[i])] != i]
    head = [i for i in range(len(items)) if firsts[_key(items[i])] == i]
    outcomes = [""] * len(items)
    result = CaptureResult()
    for part in (head, later):
        done = await record_activities(
            session=session, scorer=scorer, workspace_id=workspace_id,
            items=[items[i] for i in part], config=config, now=now,
        )  # fmt: skip
        for index, outcome in zip(part, done.outcomes, strict=True):
            outcomes[index] = outcome
    result.outcomes = outcomes
    return result


def _moment(contact: Contact, item: ActivityIn, now: datetime) -> datetime:
    """When to score a contact: its newest activity (stitched visits included), never the future."""
    latest = max(item.occurred_at, contact.last_touch_at or item.occurred_at)
    return min(latest, now)


def _touches(item: ActivityIn, now: datetime) -> bool:
    """Whether an activity is a contact that happened (not a future or cancelled meeting)."""
    return item.occurred_at <= now and not item.facts.get("cancelled")


async def _link_all(
    session: AsyncSession, workspace_id: int, touched: list[_Touched], now: datetime
) -> dict[int, tuple[Contact, ActivityIn]]:
    """Participants, owners and last touches; returns each contact with its newest item."""
    contacts: dict[int, tuple[Contact, ActivityIn]] = {}
    links: list[dict[str, Any]] = []
    for entry in touched:
        item, updated = entry.item, entry.updated
        linked = [c for _p, c in entry.pairs]
        if updated is not None:
            linked += await participants_of(session=session, activity=updated)
        for person, contact in entry.pairs:
            if person.visitor_id:
                await stitch_visitor(session=session, contact=contact, visitor_id=person.visitor_id)
        for contact in {c.id: c for c in linked}.values():
            assert contact.id is not None
            if updated is None:
                links.append({"workspace_id": workspace_id, "activity_id": entry.activity_id,
                              "contact_id": contact.id})  # fmt: skip
            else:
                await add_participant(session=session, activity=updated, contact_id=contact.id)
                updated.user_id = updated.user_id or (entry.rep.id if entry.rep else None)
            if entry.rep is not None:
                contact.owner_id = contact.owner_id or entry.rep.id
            if _touches(item, now) and (
                contact.last_touch_at is None or contact.last_touch_at < item.occurred_at
            ):
                contact.last_touch_at = item.occurred_at
            previous = contacts.get(contact.id)
            if previous is None or previous[1].occurred_at <= item.occurred_at:
                contacts[contact.id] = (contact, item)
            session.add(contact)
    await insert_rows(session, ActivityParticipant, links)
    await session.flush()
    return contacts


async def _score_and_nudge(
    session: AsyncSession,
    scorer: Scorer,
    contacts: dict[int, tuple[Contact, ActivityIn]],
    config: CrmConfig,
    now: datetime,
) -> None:
    """Rescore each contact as of its newest activity; nudge about those that became hot."""
    if not contacts:
        return
    scored = await rescore_contacts(
        session=session,
        scorer=scorer,
        contacts=[contact for contact, _item in contacts.values()],
        at={cid: _moment(contact, item, now) for cid, (contact, item) in contacts.items()},
    )
    events = [
        LeadEvent(
            contact=contact,
            scored=scored[cid],
            trigger=f"{item.kind}: {item.subject}" if item.subject else item.kind,
            event_key=f"{item.source}:{item.external_id}",
        )
        for cid, (contact, item) in contacts.items()
    ]
    await queue_hot_leads(session=session, events=events, config=config, now=now)


async def record_skipped(*, session: AsyncSession, workspace_id: int, item: SkippedIn) -> bool:
    """Count an item deliberately not captured (once per item)."""
    query = select(SkippedItem.id).where(
        SkippedItem.workspace_id == workspace_id,
        SkippedItem.source == item.source,
        SkippedItem.external_id == fit_id(item.external_id),
    )
    if (await session.exec(query)).first() is not None:
        return False
    session.add(
        SkippedItem(
            workspace_id=workspace_id,
            source=item.source,
            external_id=fit_id(item.external_id),
            reason=cut(item.reason, 100) or "",
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
        external_id=fit_id(item.external_id) if item.external_id else None,
        reason=cut(item.reason, 1000) or "",
        body=item.raw,
        digest=digest,
    )
    session.add(row)
    await session.flush()
    return row
