"""The hash-chained audit trail: append, verify, query, prune, and redact for erasure.

Each row's hash covers its predecessor's hash, its metadata and digests of ``before`` and
``after``. Editing, deleting or reordering rows breaks the chain at the first bad row. The
head :class:`AuditAnchor`, moved by each append in its transaction, names the newest row,
so deleting the newest rows shows too; the next append chains onto the recorded head, so
it cannot hide them. Pruning leaves an anchor with the last deleted hash, so the rest still
verifies; an erasure may blank a row's personal content, keeping its digests, but only
rows named by a later, chained erasure receipt may be blank.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import AuditAnchor, AuditEntry
from models.db import insert_rows, query_rows, table_of
from models.types import utcnow

GENESIS = "0" * 64
SYSTEM = "system"
ERASURE_RECEIPT = "privacy.erased"
HEAD = "head"
PRUNED = "pruned"
_CHAIN_LOCK = 7_414_017
_PAGE = 1000


def _digest(document: dict[str, Any]) -> str:
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def content_digests(entry: AuditEntry) -> tuple[str, str]:
    """Digests of before and after, as chained (kept in ``redacted`` once blanked)."""
    if entry.redacted:
        return str(entry.redacted["before"]), str(entry.redacted["after"])
    return _digest(entry.before), _digest(entry.after)


def entry_hash(entry: AuditEntry) -> str:
    """The hash of a row's content and its predecessor's hash."""
    before, after = content_digests(entry)
    return _digest(
        {
            "prev": entry.prev_hash,
            "at": entry.at.isoformat(),
            "workspace": entry.workspace_id,
            "actor": entry.actor,
            "action": entry.action,
            "target": [entry.target_type, entry.target_id],
            "before": before,
            "after": after,
        }
    )


_TOUCH_HEAD = (
    update(AuditAnchor)
    .where(col(AuditAnchor.kind) == HEAD)
    .values(kind=HEAD)
    .execution_options(synchronize_session=False)
)


async def _lock_chain(session: AsyncSession) -> None:
    """Serialize appends and prunes until commit.

    PostgreSQL takes an advisory lock; SQLite a write (that changes nothing), which waits
    for its write lock, so what is read next is not stale.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(select(func.pg_advisory_xact_lock(_CHAIN_LOCK)))
    else:
        await session.exec(_TOUCH_HEAD)


async def _head(session: AsyncSession) -> AuditAnchor | None:
    query = select(AuditAnchor).where(AuditAnchor.kind == HEAD)
    return (await session.exec(query.execution_options(populate_existing=True))).first()


async def record_audit(
    *,
    session: AsyncSession,
    workspace_id: int | None,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one row, chained to the recorded head, and move the head to it (serialized).

    ``actor`` is ``slack:<user id>``, ``api:<token name>``, ``cli`` or ``system``.
    """
    await _lock_chain(session)
    head = (await query_rows(session, _HEAD_ROW))[:1]
    entry = AuditEntry(
        workspace_id=workspace_id,
        at=utcnow(),
        actor=actor[:100],
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:100],
        before=before or {},
        after=after or {},
        prev_hash=head[0].entry_hash if head else GENESIS,
        hash="",
    )
    entry.hash = entry_hash(entry)
    (entry.id,) = await insert_rows(session, AuditEntry, [entry.model_dump(exclude={"id"})])
    moved = {"new_id": entry.id, "new_hash": entry.hash}
    connection = await session.connection()
    if head:
        await connection.execute(_MOVE_HEAD, moved)
    else:
        await insert_rows(session, AuditAnchor, [
            {"kind": HEAD, "entry_id": entry.id, "entry_hash": entry.hash, "pruned": 0,
             "created_at": utcnow()}
        ])  # fmt: skip
    return entry


_ANCHOR = table_of(AuditAnchor)
_HEAD_ROW = select(_ANCHOR.c.entry_hash).where(_ANCHOR.c.kind == HEAD)
_MOVE_HEAD = (
    update(_ANCHOR)
    .where(_ANCHOR.c.kind == HEAD)
    .values(entry_id=bindparam("new_id"), entry_hash=bindparam("new_hash"))
)
"""The head's hash, and its move to a new row: built once, run on every append."""


async def _latest_anchor(session: AsyncSession) -> AuditAnchor | None:
    query = (
        select(AuditAnchor)
        .where(AuditAnchor.kind == PRUNED)
        .order_by(col(AuditAnchor.entry_id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a verification: rows checked, and the first bad row with the reason."""

    checked: int
    bad_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when every row is intact and in order."""
        return self.bad_id is None


async def _rows(session: AsyncSession, after_id: int) -> list[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(col(AuditEntry.id) > after_id)
        .order_by(col(AuditEntry.id))
        .limit(_PAGE)
    )
    return list((await session.exec(query)).all())


def _erased_ids(entry: AuditEntry) -> Iterable[int]:
    if entry.action != ERASURE_RECEIPT:
        return ()
    return (int(i) for i in entry.after.get("redacted_audit_ids", ()))


@dataclass(slots=True)
class _Walk:
    """How far a verification has got: the last good row, and the hash the next must follow."""

    last_id: int
    expected: str
    head: AuditAnchor | None
    checked: int = 0
    blanked: set[int] = field(default_factory=set)
    released: set[int] = field(default_factory=set)

    def step(self, entry: AuditEntry) -> ChainReport | None:
        """Check the next row; a report if it is bad."""
        assert entry.id is not None
        if entry.prev_hash != self.expected:
            why = "does not follow the row before it (a row was deleted, added or moved)"
            return ChainReport(self.checked, entry.id, why)
        if entry_hash(entry) != entry.hash:
            return ChainReport(self.checked, entry.id, "its content was changed")
        if self.head and self.head.entry_id == entry.id and self.head.entry_hash != entry.hash:
            why = "not the newest row on record (the head anchor names another)"
            return ChainReport(self.checked, entry.id, why)
        if entry.redacted:
            self.blanked.add(entry.id)
        self.released.update(_erased_ids(entry))
        self.expected, self.last_id, self.checked = entry.hash, entry.id, self.checked + 1
        return None

    def end(self) -> ChainReport:
        """The report once every row is checked: the chain must reach the recorded head."""
        if self.head is None and self.last_id:
            why = "the newest row, but the head anchor that should name it is gone"
            return ChainReport(self.checked, self.last_id, why)
        if self.head and self.last_id < self.head.entry_id:
            why = f"missing, as is every row after row {self.last_id}: the newest rows were deleted"
            return ChainReport(self.checked, self.head.entry_id, why)
        unexplained = sorted(self.blanked - self.released)
        if unexplained:
            return ChainReport(self.checked, unexplained[0], "blanked without an erasure receipt")
        return ChainReport(self.checked)


async def verify_chain(*, session: AsyncSession) -> ChainReport:
    """Walk the chain in id order; name the first row edited, deleted or moved.

    A row whose ``prev_hash`` is not its predecessor's hash follows a deleted or moved
    row; a row whose own hash does not match its content was edited; a chain that stops
    before the recorded head lost its newest rows.
    """
    head = await _head(session)  # read first: rows appended meanwhile come after it
    anchor = await _latest_anchor(session)
    walk = _Walk(anchor.entry_id, anchor.entry_hash, head) if anchor else _Walk(0, GENESIS, head)
    while rows := await _rows(session, walk.last_id):
        for entry in rows:
            if bad := walk.step(entry):
                return bad
    return walk.end()


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to list: each field narrows the result when set."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    workspace_id: int | None = None
    limit: int = 100


async def list_audit(*, session: AsyncSession, query: AuditFilter) -> list[AuditEntry]:
    """Newest first. ``action`` matches exactly or as a prefix (``role`` finds ``role.set``);
    ``target`` is ``type`` or ``type:id``.
    """
    statement = select(AuditEntry)
    if query.workspace_id is not None:
        statement = statement.where(AuditEntry.workspace_id == query.workspace_id)
    if query.actor:
        statement = statement.where(AuditEntry.actor == query.actor)
    if query.action:
        statement = statement.where(
            or_(
                col(AuditEntry.action) == query.action,
                col(AuditEntry.action).startswith(query.action + ".", autoescape=True),
            )
        )
    if query.target:
        kind, _, target_id = query.target.partition(":")
        statement = statement.where(AuditEntry.target_type == kind)
        if target_id:
            statement = statement.where(AuditEntry.target_id == target_id)
    if query.since is not None:
        statement = statement.where(col(AuditEntry.at) >= query.since)
    statement = statement.order_by(col(AuditEntry.id).desc()).limit(query.limit)
    return list((await session.exec(statement)).all())


async def prune_audit(*, session: AsyncSession, older_than: datetime) -> int:
    """Delete rows older than ``older_than``; an anchor keeps the rest verifiable.

    Rows are deleted from the start of the chain only, so the remaining chain stays whole.
    """
    await _lock_chain(session)
    first_kept = (
        await session.exec(select(func.min(AuditEntry.id)).where(col(AuditEntry.at) >= older_than))
    ).first()
    doomed = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(1)
    if first_kept is not None:
        doomed = doomed.where(col(AuditEntry.id) < first_kept)
    last = (await session.exec(doomed)).first()
    if last is None or last.id is None:
        return 0
    count = (await session.exec(select(func.count()).where(col(AuditEntry.id) <= last.id))).one()
    session.add(AuditAnchor(kind=PRUNED, entry_id=last.id, entry_hash=last.hash, pruned=count))
    await session.exec(delete(AuditEntry).where(col(AuditEntry.id) <= last.id))
    await session.flush()
    return int(count)


def _mentions(document: Any, needles: tuple[str, ...]) -> bool:
    text = json.dumps(document, default=str).lower()
    return any(needle in text for needle in needles)


async def redact_mentions(
    *, session: AsyncSession, workspace_id: int, needles: Iterable[str]
) -> list[int]:
    """Blank before/after of this workspace's rows that mention any needle (an erasure).

    The chained digests stay, so the chain still verifies once the erasure receipt that
    lists these ids is recorded. Returns the ids blanked.
    """
    lowered = tuple(n.lower() for n in needles if n and len(n) >= 3)
    if not lowered:
        return []
    mentions = [
        func.lower(cast(column, Text)).contains(needle, autoescape=True)
        for needle in lowered
        for column in (AuditEntry.before, AuditEntry.after)
    ]
    query = select(AuditEntry).where(
        or_(col(AuditEntry.workspace_id) == workspace_id, col(AuditEntry.workspace_id).is_(None)),
        or_(*mentions),
    )
    blanked: list[int] = []
    for entry in (await session.exec(query.order_by(col(AuditEntry.id)))).all():
        assert entry.id is not None
        if entry.redacted or not _mentions([entry.before, entry.after], lowered):
            continue
        before, after = content_digests(entry)
        entry.redacted = {"before": before, "after": after}
        entry.before, entry.after = {"erased": True}, {"erased": True}
        session.add(entry)
        blanked.append(entry.id)
    await session.flush()
    return blanked
