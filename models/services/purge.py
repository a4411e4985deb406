"""Erasure of one person (GDPR Art. 17, CCPA): every row about them, and their mentions.

:func:`erase_person` runs in the caller's transaction. It deletes the person's contact
(and contacts merged into it), identities, changes, deal links, scores, feedback on their
nudges and the learning-log rows that came from them; deletes activities only they took
part in; takes them out of activities shared with others; blanks and cancels nudges about
them, queueing the Slack messages for retraction. Raw items and quarantined input that name
them are deleted, whether the name is plain or encoded (RFC 2047 headers, quoted-printable
or base64 parts, a phone written "(415) 555-0134"). Then every other text, JSON and binary
column is swept for their email, phone and name. The model must then be rebuilt from the
remaining log (:mod:`learning.rebuild`); the receipt goes to the audit log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

from sqlalchemy import JSON, LargeBinary, String, Table, Text, TypeDecorator, delete, func, update
from sqlalchemy import cast as sql_cast
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.store import pseudonym
from models.activity import Activity, ActivityParticipant, Quarantine, RawItem
from models.contact import Contact, ContactIdentity
from models.feedback import Feedback
from models.learning import LearningLogEntry
from models.learning_control import LearningExclusion
from models.nudge import Nudge
from models.privacy import SlackRetraction
from models.services.audit import ERASURE_RECEIPT, record_audit, redact_mentions
from models.services.forgotten import add_tombstones
from models.services.identity import normalize_email
from models.services.scrub import scrub_bytes, scrub_json, scrub_text

_OWN_TABLES = frozenset(
    {"auditentry", "auditanchor", "erasuretombstone", "erasurekey", "learninglogentry",
     "modelsnapshot", "alembic_version"}
)  # fmt: skip
_PAGE = 500
_PHONE_RUN = re.compile(r"\+?\d[\d ().-]{5,}\d")
_MIN_PHONE_DIGITS = 9


@dataclass(slots=True)
class Erasure:
    """What an erasure removed; the counts go into the receipt, never who it was."""

    contacts: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    first_log_id: int | None = None
    retractions: int = 0

    def add(self, what: str, count: int) -> None:
        """Count rows removed or rewritten, by kind."""
        if count:
            self.counts[what] = self.counts.get(what, 0) + count


async def people_of(*, session: AsyncSession, workspace_id: int, email: str) -> list[Contact]:
    """The contact with this email and every contact merged into it."""
    query = select(ContactIdentity.contact_id).where(
        ContactIdentity.workspace_id == workspace_id,
        ContactIdentity.kind == "email",
        ContactIdentity.value == normalize_email(email),
    )
    start = (await session.exec(query)).first()
    if start is None:
        return []
    found: dict[int, Contact] = {}
    waiting = [int(start)]
    while waiting:
        contact_id = waiting.pop()
        contact = await session.get(Contact, contact_id)
        if contact is None or contact_id in found:
            continue
        found[contact_id] = contact
        merged = await session.exec(select(Contact.id).where(Contact.merged_into_id == contact_id))
        waiting += [int(row) for row in merged.all() if row is not None]
    return list(found.values())


async def _needles(session: AsyncSession, email: str, contacts: Sequence[Contact]) -> list[str]:
    """What identifies the person in text: emails, phones, and names of two words or 6+ letters."""
    ids = [c.id for c in contacts]
    rows = await session.exec(
        select(ContactIdentity.value).where(
            col(ContactIdentity.contact_id).in_(ids), ContactIdentity.kind != "visitor"
        )
    )
    words = {normalize_email(email), email.strip()} | set(rows.all())
    words |= {c.name.strip() for c in contacts if " " in c.name.strip() or len(c.name) >= 6}
    for value in list(words):
        if value.startswith("+"):
            words |= _phone_forms(value)
    return sorted((w for w in words if len(w) >= 3), key=len, reverse=True)


def _json_forms(needles: Sequence[str]) -> list[str]:
    """The needles as written inside JSON too (``\\u00e1`` for á), for searching JSON columns.

    >>> _json_forms(["Ana Már"])
    ['Ana Már', 'Ana M\\\\u00e1r']
    """
    escaped = (json.dumps(needle)[1:-1] for needle in needles)
    return [*needles, *(e for e in escaped if e not in needles)]


def _phone_forms(e164: str) -> set[str]:
    """How an E.164 number is written in text; North American numbers in their usual shapes.

    >>> sorted(_phone_forms("+14155550134"))[:2]
    ['(415) 555-0134', '14155550134']
    """
    forms = {e164[1:]}
    if e164.startswith("+1") and len(e164) == 12:
        area, office, line = e164[2:5], e164[5:8], e164[8:]
        forms |= {f"({area}) {office}-{line}", f"{area}-{office}-{line}",
                  f"{area}.{office}.{line}", f"{area} {office} {line}", e164[2:]}  # fmt: skip
    return forms


@dataclass(frozen=True, slots=True)
class _Traces:
    """What names the person in stored bytes: the needles, and their phones' digits."""

    needles: tuple[str, ...]
    phones: tuple[str, ...]

    def named_in(self, body: bytes) -> bool:
        """Whether the bytes name them, plainly or in an encoded form of mail."""
        return any(self._in_text(view) for view in _views(body))

    def _in_text(self, text: str) -> bool:
        lowered = text.lower()
        if any(needle.lower() in lowered for needle in self.needles):
            return True
        runs = (re.sub(r"\D", "", run) for run in _PHONE_RUN.findall(text))
        return any(
            len(run) >= _MIN_PHONE_DIGITS and any(p.endswith(run) for p in self.phones)
            for run in runs
        )


def _views(body: bytes) -> Iterator[str]:
    """The bytes as text, then as mail: each header and each text part decoded."""
    yield body.decode("utf-8", "replace")
    message = BytesParser(policy=policy.default).parsebytes(body)
    yield from (str(value) for _name, value in message.items())
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                yield part.get_content()
            except (LookupError, ValueError):
                continue


def _traces(needles: Sequence[str], identities: Sequence[tuple[str, str]]) -> _Traces:
    phones = tuple(value.lstrip("+") for kind, value in identities if kind == "phone")
    return _Traces(tuple(needles), phones)


async def _ids(session: AsyncSession, statement: Any) -> set[int]:
    return {int(row) for row in (await session.exec(statement)).all() if row is not None}


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


async def _delete_rows(
    session: AsyncSession, table: Table, ids: set[int], erasure: Erasure
) -> None:
    """Delete rows and, first, every row of another table that refers to them.

    References from activities and nudges are cleared instead: those rows may concern
    other people and are handled on their own.
    """
    if not ids:
        return
    for other in SQLModel.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is not table or fk.parent.name == "id":
                continue
            refers = fk.parent.in_(sorted(ids))
            if other is table or other.name in ("activity", "nudge") or other.name in _OWN_TABLES:
                if fk.parent.nullable:
                    await session.exec(update(other).where(refers).values({fk.parent.name: None}))
                continue
            children = await _ids(session, select(other.c.id).where(refers))
            await _delete_rows(session, other, children, erasure)
    for chunk in _chunks(sorted(ids)):
        await session.exec(delete(table).where(table.c.id.in_(chunk)))
    erasure.add(table.name, len(ids))


def _chunks(ids: list[int], size: int = _PAGE) -> Iterable[list[int]]:
    return (ids[i : i + size] for i in range(0, len(ids), size))


async def _activities(session: AsyncSession, contact_ids: set[int], erasure: Erasure) -> None:
    """Delete activities only they were in (and their raw bytes); leave the others to the rest."""
    part = _table(ActivityParticipant)
    act = _table(Activity)
    theirs = await _ids(
        session, select(part.c.activity_id).where(part.c.contact_id.in_(contact_ids))
    )
    theirs |= await _ids(session, select(act.c.id).where(act.c.contact_id.in_(contact_ids)))
    shared = await _ids(
        session,
        select(part.c.activity_id).where(
            part.c.activity_id.in_(theirs), part.c.contact_id.not_in(contact_ids)
        ),
    )
    solo = theirs - shared
    raw = await _ids(
        session,
        select(act.c.raw_item_id).where(act.c.id.in_(theirs), act.c.raw_item_id.is_not(None)),
    )
    await session.exec(update(act).where(act.c.id.in_(theirs)).values(raw_item_id=None))
    await session.exec(delete(part).where(part.c.contact_id.in_(contact_ids)))
    for activity_id in shared:
        other = (
            await session.exec(
                select(part.c.contact_id).where(part.c.activity_id == activity_id).limit(1)
            )
        ).first()
        await session.exec(
            update(act)
            .where(act.c.id == activity_id, act.c.contact_id.in_(contact_ids))
            .values(contact_id=other)
        )
    erasure.add("activity (shared, person removed)", len(shared))
    await _delete_rows(session, act, solo, erasure)
    still_used = await _ids(session, select(act.c.raw_item_id).where(act.c.raw_item_id.in_(raw)))
    await _delete_rows(session, _table(RawItem), raw - still_used, erasure)


async def _drop_naming(
    session: AsyncSession, model: type[SQLModel], workspace_id: int, traces: _Traces,
    erasure: Erasure,
) -> None:  # fmt: skip
    """Delete the rows of a table of stored bytes (raw items, quarantine) that name them."""
    table = _table(model)
    mine = (table.c.workspace_id == workspace_id) | table.c.workspace_id.is_(None)
    doomed: set[int] = set()
    last = 0
    while True:
        query = select(table.c.id, table.c.body).where(mine, table.c.id > last)
        rows = (await session.exec(query.order_by(table.c.id).limit(_PAGE))).all()
        if not rows:
            break
        last = rows[-1][0]
        doomed |= {row_id for row_id, body in rows if traces.named_in(bytes(body))}
    await _delete_rows(session, table, doomed, erasure)


async def _nudges(
    session: AsyncSession, workspace_id: int, contact_ids: set[int], needles: Sequence[str],
    erasure: Erasure,
) -> set[int]:  # fmt: skip
    """Blank and cancel nudges about them (and replies under those); queue Slack retractions."""
    nudge = _table(Nudge)
    about = await _ids(session, select(nudge.c.id).where(nudge.c.contact_id.in_(contact_ids)))
    json_needles = _json_forms(needles)
    about |= await _ids(session, _mentioning(nudge, nudge.c.payload, json_needles, workspace_id))
    frontier = set(about)
    while frontier:
        frontier = (
            await _ids(session, select(nudge.c.id).where(nudge.c.parent_id.in_(frontier))) - about
        )
        about |= frontier
    for nudge_id in sorted(about):
        row = await session.get(Nudge, nudge_id)
        assert row is not None
        if row.channel_id and row.message_ts:
            await _retract(session, workspace_id, row.channel_id, row.message_ts)
            erasure.retractions += 1
        row.payload, row.contact_id = {"erased": True}, None
        row.dedupe_key = f"erased:{nudge_id}"
        row.state = "cancelled" if row.state == "pending" else row.state
        row.last_error = None
        session.add(row)
    erasure.add("nudge (blanked)", len(about))
    return about


async def _retract(session: AsyncSession, workspace_id: int, channel_id: str, ts: str) -> None:
    exists = await session.exec(
        select(SlackRetraction.id).where(
            SlackRetraction.workspace_id == workspace_id,
            SlackRetraction.channel_id == channel_id,
            SlackRetraction.message_ts == ts,
        )
    )
    if exists.first() is None:
        session.add(
            SlackRetraction(workspace_id=workspace_id, channel_id=channel_id, message_ts=ts)
        )
        await session.flush()


def _mentioning(table: Table, column: Any, needles: Sequence[str], workspace_id: int) -> Any:
    text = func.lower(sql_cast(column, Text))
    condition = func.coalesce(text, "").contains(needles[0].lower(), autoescape=True)
    for needle in needles[1:]:
        condition = condition | func.coalesce(text, "").contains(needle.lower(), autoescape=True)
    query = select(table.c.id).where(condition)
    if "workspace_id" in table.c:
        query = query.where(table.c.workspace_id == workspace_id)
    return query


async def _learning(
    session: AsyncSession, workspace_id: int, contact_ids: set[int], salt: str, erasure: Erasure
) -> None:
    subjects = [pseudonym(f"contact:{cid}", salt=salt) for cid in contact_ids]
    log = _table(LearningLogEntry)
    ids = await _ids(
        session,
        select(log.c.id).where(log.c.workspace_id == workspace_id, log.c.subject.in_(subjects)),
    )
    if ids:
        erasure.first_log_id = min(ids)
        await session.exec(delete(LearningExclusion).where(col(LearningExclusion.log_id).in_(ids)))
        for chunk in _chunks(sorted(ids)):
            await session.exec(delete(log).where(log.c.id.in_(chunk)))
    erasure.add("learning-log entries", len(ids))


async def _sweep(
    session: AsyncSession, workspace_id: int, needles: Sequence[str], erasure: Erasure
) -> None:
    """Every other text, JSON and binary column: the needles replaced wherever they appear."""
    for table in SQLModel.metadata.sorted_tables:
        if table.name in _OWN_TABLES or "id" not in table.c:
            continue
        for column in table.columns:
            if column.foreign_keys or column.primary_key:
                continue
            kind = _underlying(column.type)
            if isinstance(kind, LargeBinary):
                await _sweep_bytes(session, table, column, workspace_id, needles, erasure)
            elif isinstance(kind, (String, Text, JSON)) or type(kind).__name__ == "JSON":
                wanted = _json_forms(needles) if isinstance(kind, JSON) else needles
                ids = await _ids(session, _mentioning(table, column, wanted, workspace_id))
                for row_id in sorted(ids):
                    found = await session.exec(select(column).where(table.c.id == row_id))
                    value = found.one()
                    fixed = (
                        scrub_json(value, needles)
                        if isinstance(kind, JSON)
                        else scrub_text(value, needles)
                    )
                    await session.exec(
                        update(table).where(table.c.id == row_id).values({column.name: fixed})
                    )
                erasure.add(f"{table.name}.{column.name} (mentions removed)", len(ids))


def _underlying(kind: Any) -> Any:
    """The SQL type under a decorated one (SQLModel's ``str`` fields are ``AutoString``)."""
    return kind.impl_instance if isinstance(kind, TypeDecorator) else kind


async def _sweep_bytes(
    session: AsyncSession, table: Table, column: Any, workspace_id: int,
    needles: Sequence[str], erasure: Erasure,
) -> None:  # fmt: skip
    last = 0
    lowered = [n.lower().encode() for n in needles]
    while True:
        query = select(table.c.id, column).where(table.c.id > last).order_by(table.c.id)
        if "workspace_id" in table.c:
            query = query.where(
                (table.c.workspace_id == workspace_id) | table.c.workspace_id.is_(None)
            )
        rows = (await session.exec(query.limit(_PAGE))).all()
        if not rows:
            return
        for row_id, body in rows:
            last = row_id
            if body and any(n in bytes(body).lower() for n in lowered):
                fixed = scrub_bytes(bytes(body), needles)
                await session.exec(
                    update(table).where(table.c.id == row_id).values({column.name: fixed})
                )
                erasure.add(f"{table.name}.{column.name} (mentions removed)", 1)


async def erase_person(
    *, session: AsyncSession, workspace_id: int, email: str, salt: str, actor: str
) -> Erasure:
    """Forget everything about the person with this email; tombstone them; write a receipt.

    Running it again finds nothing more and only adds another receipt.
    """
    contacts = await people_of(session=session, workspace_id=workspace_id, email=email)
    contact_ids = {c.id for c in contacts if c.id is not None}
    needles = await _needles(session, email, contacts)
    erasure = Erasure(contacts=len(contact_ids))
    identities = [("email", normalize_email(email))]
    if contact_ids:
        phones = await session.exec(
            select(ContactIdentity.kind, ContactIdentity.value).where(
                col(ContactIdentity.contact_id).in_(contact_ids)
            )
        )
        identities += [(k, v) for k, v in phones.all() if k in ("email", "phone")]
        erased_nudges = await _nudges(session, workspace_id, contact_ids, needles, erasure)
        feedback = await _ids(
            session,
            select(Feedback.id).where(
                col(Feedback.contact_id).in_(contact_ids)
                | col(Feedback.nudge_id).in_(erased_nudges)
            ),
        )
        await _delete_rows(session, _table(Feedback), feedback, erasure)
        await _learning(session, workspace_id, contact_ids, salt, erasure)
        await _activities(session, contact_ids, erasure)
        await session.exec(
            update(_table(Contact))
            .where(_table(Contact).c.id.in_(contact_ids))
            .values(merged_into_id=None)
        )
        await _delete_rows(session, _table(Contact), contact_ids, erasure)
    traces = _traces(needles, identities)
    for stored in (RawItem, Quarantine):
        await _drop_naming(session, stored, workspace_id, traces, erasure)
    await _sweep(session, workspace_id, needles, erasure)
    digests = await add_tombstones(
        session=session, workspace_id=workspace_id, identities=sorted(set(identities))
    )
    blanked = await redact_mentions(
        session=session, workspace_id=workspace_id, needles=_json_forms(needles)
    )
    await record_audit(
        session=session,
        workspace_id=workspace_id,
        actor=actor,
        action=ERASURE_RECEIPT,
        target_type="person",
        target_id=digests[0][:16],
        after={
            "contacts": erasure.contacts,
            "removed": erasure.counts,
            "slack_messages": erasure.retractions,
            "tombstones": len(digests),
            "redacted_audit_ids": blanked,
        },
    )
    return erasure
