"""Merging duplicate contacts with all their history, and undoing a merge exactly.

A merge repoints every row that refers to the merged contact (activities, participants,
identities, deal links, changes, score snapshots, feedback, nudges, and any later table
with a foreign key to ``contact``) to the survivor, fills the survivor's empty details
from the merged contact, and marks the merged contact ``merged_into_id``. Nothing is
deleted: a row that would collide with one the survivor already has (the same activity
or deal twice) stays where it is. The :class:`MergeRecord` lists every row moved and both
contacts' details before, so an undo restores both records as they were.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Table, UniqueConstraint, and_, exists, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.contact import Contact
from models.db import add_unless_taken
from models.hygiene import MergeProposal, MergeRecord
from models.services.audit import record_audit
from models.types import utcnow

DETAILS = ("name", "title", "account_id", "owner_id", "lead_source", "last_touch_at")
RESTORED = (*DETAILS, "merged_into_id", "updated_at")
_NOT_HISTORY = frozenset({"contact", "mergeproposal", "mergerecord"})


class MergeError(ValueError):
    """A merge or undo that cannot be done, with the reason in words."""


def _references() -> list[tuple[Table, Column[Any]]]:
    """Every (table, column) holding a contact id as history, found from the schema."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in _NOT_HISTORY:
            continue
        for column in table.columns:
            if any(fk.column.table.name == "contact" for fk in column.foreign_keys):
                found.append((table, column))
    return found


def _unique_sets(table: Table, column: Column[Any]) -> list[list[Column[Any]]]:
    """The other columns of each uniqueness rule that includes ``column``."""
    sets = [
        list(c.columns)
        for c in table.constraints
        if isinstance(c, UniqueConstraint) and column.name in c.columns
    ]
    sets += [
        list(i.columns)
        for i in table.indexes
        if isinstance(i, Index) and i.unique and column in i.columns
    ]
    return [[c for c in s if c.name != column.name] for s in sets]


async def _repoint(
    session: AsyncSession, table: Table, column: Column[Any], source: int, target: int
) -> list[int]:
    """Move rows from ``source`` to ``target`` unless the target already has that row."""
    (key,) = table.primary_key.columns
    query = select(key).where(column == source)
    for others in _unique_sets(table, column):
        twin = table.alias()
        same = [twin.c[c.name] == c for c in others]
        query = query.where(~exists().where(and_(twin.c[column.name] == target, *same)))
    ids = sorted(int(i) for i in (await session.exec(query)).all())
    if ids:
        await session.exec(update(table).where(key.in_(ids)).values({column.name: target}))
    return ids


def _snapshot(contact: Contact) -> dict[str, Any]:
    values = {name: getattr(contact, name) for name in RESTORED}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _restore(contact: Contact, snapshot: dict[str, Any]) -> None:
    for name in RESTORED:
        value = snapshot.get(name)
        if name in ("last_touch_at", "updated_at") and value is not None:
            value = datetime.fromisoformat(value)
        setattr(contact, name, value)


def _absorb(survivor: Contact, merged: Contact) -> None:
    """Fill the survivor's empty details from the merged contact; keep the later touch."""
    placeholder = survivor.name == "" or ("@" not in survivor.name and " " not in survivor.name)
    if merged.name and placeholder and " " in merged.name:
        survivor.name = merged.name
    for name in ("title", "account_id", "owner_id", "lead_source"):
        if getattr(survivor, name) is None:
            setattr(survivor, name, getattr(merged, name))
    touches = [t for t in (survivor.last_touch_at, merged.last_touch_at) if t is not None]
    survivor.last_touch_at = max(touches) if touches else None
    survivor.updated_at = utcnow()


async def _live_pair(
    session: AsyncSession, workspace_id: int, survivor_id: int, merged_id: int
) -> tuple[Contact, Contact]:
    locked = select(Contact).where(col(Contact.id).in_((survivor_id, merged_id)))
    rows = await session.exec(locked.with_for_update().execution_options(populate_existing=True))
    by_id = {c.id: c for c in rows.all()}  # locked: a concurrent merge of either waits
    survivor, merged = by_id.get(survivor_id), by_id.get(merged_id)
    for contact, wanted in ((survivor, survivor_id), (merged, merged_id)):
        if contact is None or contact.workspace_id != workspace_id:
            raise MergeError(f"There is no contact #{wanted}.")
        if contact.merged_into_id is not None:
            raise MergeError(
                f"Contact #{wanted} was already merged into #{contact.merged_into_id}."
            )
    if survivor_id == merged_id:
        raise MergeError("A contact cannot be merged into itself.")
    assert survivor is not None
    assert merged is not None
    return survivor, merged


async def merge_contacts(
    *,
    session: AsyncSession,
    workspace_id: int,
    survivor_id: int,
    merged_id: int,
    actor: str,
    score: float | None = None,
) -> MergeRecord:
    """Merge ``merged_id`` into ``survivor_id`` keeping all history; returns the record."""
    survivor, merged = await _live_pair(session, workspace_id, survivor_id, merged_id)
    before = {"survivor": _snapshot(survivor), "merged": _snapshot(merged)}
    moved: dict[str, list[int]] = {}
    for table, column in _references():
        ids = await _repoint(session, table, column, merged_id, survivor_id)
        if ids:
            moved[f"{table.name}.{column.name}"] = ids
    _absorb(survivor, merged)
    merged.merged_into_id, merged.updated_at = survivor_id, utcnow()
    session.add_all([survivor, merged])
    record = MergeRecord(
        workspace_id=workspace_id,
        survivor_id=survivor_id,
        merged_id=merged_id,
        undo={**before, "moved": moved, "score": score},
        actor=actor[:64],
    )
    session.add(record)
    await session.flush()
    await _settle_proposal(session, workspace_id, survivor_id, merged_id, "merged", actor)
    await record_audit(
        session=session, workspace_id=workspace_id, actor=actor, action="contact.merged",
        target_type="contact", target_id=survivor_id,
        after={"merge_id": record.id, "merged_id": merged_id, "score": score,
               "rows_moved": sum(len(ids) for ids in moved.values())},
    )  # fmt: skip
    return record


async def undo_merge(
    *, session: AsyncSession, workspace_id: int, merge_id: int, actor: str
) -> MergeRecord:
    """Put both contacts back as they were before merge ``merge_id``; remember they differ.

    Rows that arrived after the merge stay with the survivor. A survivor that was itself
    merged later must be unmerged first.
    """
    record = await session.get(MergeRecord, merge_id)
    if record is None or record.workspace_id != workspace_id:
        raise MergeError(f"There is no merge #{merge_id}.")
    if record.undone_at is not None:
        raise MergeError(f"Merge #{merge_id} was already undone.")
    survivor = await session.get(Contact, record.survivor_id)
    merged = await session.get(Contact, record.merged_id)
    assert survivor is not None
    assert merged is not None
    if survivor.merged_into_id is not None:
        later = await _merge_of(session, survivor.id or 0)
        raise MergeError(
            f"Contact #{survivor.id} was merged again later: undo merge #{later} first."
        )
    tables = {t.name: t for t in SQLModel.metadata.sorted_tables}
    for place, ids in record.undo["moved"].items():
        table_name, _, column_name = place.partition(".")
        table = tables[table_name]
        (key,) = table.primary_key.columns
        await session.exec(
            update(table)
            .where(key.in_(ids), table.c[column_name] == record.survivor_id)
            .values({column_name: record.merged_id})
        )
    _restore(survivor, record.undo["survivor"])
    _restore(merged, record.undo["merged"])
    record.undone_at = utcnow()
    session.add_all([survivor, merged, record])
    await session.flush()
    await _settle_proposal(
        session, workspace_id, record.survivor_id, record.merged_id, "rejected", actor
    )
    await record_audit(
        session=session, workspace_id=workspace_id, actor=actor, action="contact.merge_undone",
        target_type="contact", target_id=record.merged_id,
        after={"merge_id": record.id, "survivor_id": record.survivor_id},
    )  # fmt: skip
    return record


async def _merge_of(session: AsyncSession, merged_id: int) -> int | None:
    query = select(MergeRecord.id).where(
        MergeRecord.merged_id == merged_id, col(MergeRecord.undone_at).is_(None)
    )
    return (await session.exec(query)).first()


async def proposal_for(
    session: AsyncSession, workspace_id: int, first: int, second: int
) -> MergeProposal | None:
    """The proposal (open or answered) about two contacts, in either order."""
    a, b = sorted((first, second))
    query = select(MergeProposal).where(
        MergeProposal.workspace_id == workspace_id,
        MergeProposal.contact_a_id == a,
        MergeProposal.contact_b_id == b,
    )
    return (await session.exec(query)).first()


async def _settle_proposal(
    session: AsyncSession, workspace_id: int, first: int, second: int, state: str, actor: str
) -> None:
    """Record the answer about two contacts, creating the proposal row if none was made."""
    proposal = await proposal_for(session, workspace_id, first, second)
    if proposal is None:
        a, b = sorted((first, second))
        proposal = MergeProposal(
            workspace_id=workspace_id, contact_a_id=a, contact_b_id=b, similarity=0.0
        )
    proposal.state, proposal.decided_by, proposal.decided_at = state, actor[:64], utcnow()
    await save_proposal(session, proposal)


async def save_proposal(session: AsyncSession, proposal: MergeProposal) -> bool:
    """Write a proposal; False if another worker wrote the same pair a moment earlier."""
    return await add_unless_taken(session, proposal)


async def reject_proposal(
    *, session: AsyncSession, workspace_id: int, proposal_id: int, actor: str
) -> MergeProposal:
    """ "Not the same": remembered, so the pair is never proposed or merged again."""
    proposal = await _open_proposal(session, workspace_id, proposal_id)
    proposal.state, proposal.decided_by, proposal.decided_at = "rejected", actor[:64], utcnow()
    session.add(proposal)
    await session.flush()
    await record_audit(
        session=session, workspace_id=workspace_id, actor=actor, action="merge_proposal.rejected",
        target_type="merge_proposal", target_id=proposal_id,
        after={"contacts": [proposal.contact_a_id, proposal.contact_b_id]},
    )  # fmt: skip
    return proposal


async def accept_proposal(
    *, session: AsyncSession, workspace_id: int, proposal_id: int, actor: str
) -> MergeRecord:
    """ "Merge": the older contact survives and takes the other's history."""
    proposal = await _open_proposal(session, workspace_id, proposal_id)
    return await merge_contacts(
        session=session,
        workspace_id=workspace_id,
        survivor_id=proposal.contact_a_id,
        merged_id=proposal.contact_b_id,
        actor=actor,
        score=proposal.similarity,
    )


async def _open_proposal(
    session: AsyncSession, workspace_id: int, proposal_id: int
) -> MergeProposal:
    proposal = await session.get(MergeProposal, proposal_id)
    if proposal is None or proposal.workspace_id != workspace_id:
        raise MergeError(f"There is no merge proposal #{proposal_id}.")
    if proposal.state != "open":
        raise MergeError(f"Merge proposal #{proposal_id} was already answered: {proposal.state}.")
    return proposal


async def recent_merges(
    *, session: AsyncSession, workspace_id: int, limit: int = 50
) -> list[MergeRecord]:
    """The latest merges, newest first, undone ones included."""
    query = (
        select(MergeRecord)
        .where(MergeRecord.workspace_id == workspace_id)
        .order_by(col(MergeRecord.id).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())
