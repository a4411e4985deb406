"""IMAP checkpoints and the mail they cover: how far each folder of each mailbox is captured.

A folder's checkpoint moves in the transaction that stores the messages it covers, so a
crash keeps both or neither: nothing is lost and nothing is captured twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exc as db
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import Scorer
from models.config import CrmConfig
from models.db import is_lock_conflict
from models.mailbox import MailboxCheckpoint
from models.services.capture import quarantine, record_activities, record_skipped
from models.services.inputs import ActivityIn, CaptureInput, QuarantineIn, SkippedIn

SOURCE = "email"


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """One fetched message: its UID, where it was found, its bytes and what they read as."""

    uid: int
    where: str
    raw: bytes
    items: Sequence[CaptureInput]


@dataclass(frozen=True, slots=True)
class Place:
    """A folder of a mailbox, under one UIDVALIDITY."""

    workspace_id: int
    mailbox: str
    folder: str
    uidvalidity: int


def is_outage(exc: BaseException) -> bool:
    """The database failed (or gave way to another transaction), not the message: retry later.

    >>> is_outage(ConnectionResetError()), is_outage(ValueError("bad header"))
    (True, False)
    """
    kinds = (
        OSError,
        db.OperationalError,
        db.InterfaceError,
        db.DisconnectionError,
        db.TimeoutError,
    )
    if isinstance(exc, db.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, kinds) or is_lock_conflict(exc)


async def get_checkpoint(
    *, session: AsyncSession, workspace_id: int, mailbox: str, folder: str
) -> MailboxCheckpoint | None:
    """The checkpoint of one folder, or None before its first capture."""
    query = select(MailboxCheckpoint).where(
        MailboxCheckpoint.workspace_id == workspace_id,
        MailboxCheckpoint.mailbox == mailbox,
        MailboxCheckpoint.folder == folder,
    )
    return (await session.exec(query)).first()


async def advance_checkpoint(
    *, session: AsyncSession, place: Place, uid: int, now: datetime
) -> int:
    """Move the checkpoint to ``uid`` (never back); returns the last UID it covered before.

    That is 0 on the first capture or after a new UIDVALIDITY. The row stays locked until
    the transaction ends, so two workers listening to one folder never store a message twice.
    """
    query = (
        select(MailboxCheckpoint)
        .where(
            MailboxCheckpoint.workspace_id == place.workspace_id,
            MailboxCheckpoint.mailbox == place.mailbox,
            MailboxCheckpoint.folder == place.folder,
        )
        .with_for_update()
    )
    row = (await session.exec(query)).first()
    if row is None:
        row = MailboxCheckpoint(
            workspace_id=place.workspace_id, mailbox=place.mailbox, folder=place.folder
        )
    covered = row.last_uid if row.uidvalidity == place.uidvalidity else 0
    if covered < uid or row.uidvalidity != place.uidvalidity:
        row.uidvalidity, row.last_uid, row.updated_at = place.uidvalidity, max(uid, covered), now
        session.add(row)
        await session.flush()
    return covered


async def store_mail(
    *,
    session: AsyncSession,
    scorer: Scorer,
    config: CrmConfig,
    place: Place,
    mail: Sequence[FetchedMail],
    through: int,
    now: datetime,
    on_error: Callable[[FetchedMail, Exception], None] = lambda _m, _e: None,
) -> Counter[str]:
    """Store the messages the checkpoint does not cover yet and move it to ``through``.

    They go set-based in one savepoint; if that fails, each goes alone (twice, as a write
    may have raced another worker's), and one that still fails is quarantined with its bytes
    after ``on_error`` hears why. A database outage is raised: the caller retries it all.
    """
    covered = await advance_checkpoint(session=session, place=place, uid=through, now=now)
    fresh = [message for message in mail if message.uid > covered]
    try:
        async with session.begin_nested():
            every = [item for message in fresh for item in message.items]
            return await _store(session, scorer, config, place.workspace_id, every, now)
    except Exception as exc:
        if is_outage(exc):
            raise
    outcomes: Counter[str] = Counter()
    for message in fresh:
        outcomes += await _store_alone(session, scorer, config, place, message, now, on_error)
    return outcomes


async def _store_alone(
    session: AsyncSession,
    scorer: Scorer,
    config: CrmConfig,
    place: Place,
    message: FetchedMail,
    now: datetime,
    on_error: Callable[[FetchedMail, Exception], None],
) -> Counter[str]:
    failure: Exception | None = None
    for _attempt in (1, 2):
        try:
            async with session.begin_nested():
                return await _store(session, scorer, config, place.workspace_id, message.items, now)
        except Exception as exc:
            if is_outage(exc):
                raise
            failure = exc
    assert failure is not None
    on_error(message, failure)
    reason = f"capture failed: {_why(failure)}"
    item = QuarantineIn(SOURCE, reason, message.raw, message.where)
    await quarantine(session=session, workspace_id=place.workspace_id, item=item)
    return Counter(quarantined=1)


def _why(exc: Exception) -> str:
    """The kind of failure, without the message's content; a database names its rule.

    >>> _why(KeyError("ana@globex.example"))
    'KeyError'
    """
    if isinstance(exc, db.DBAPIError):
        return str(exc).splitlines()[0][:300]  # the next lines show the SQL and its values
    return type(exc).__name__


async def _store(
    session: AsyncSession,
    scorer: Scorer,
    config: CrmConfig,
    workspace_id: int,
    items: Sequence[CaptureInput],
    now: datetime,
) -> Counter[str]:
    """Every input on the one ingestion path: activities set-based, the rest one by one."""
    outcomes: Counter[str] = Counter()
    for item in items:
        if isinstance(item, QuarantineIn):
            await quarantine(session=session, workspace_id=workspace_id, item=item)
            outcomes["quarantined"] += 1
        elif isinstance(item, SkippedIn):
            await record_skipped(session=session, workspace_id=workspace_id, item=item)
            outcomes["skipped"] += 1
    activities = [item for item in items if isinstance(item, ActivityIn)]
    result = await record_activities(
        session=session, scorer=scorer, workspace_id=workspace_id, items=activities,
        config=config, now=now,
    )  # fmt: skip
    outcomes.update(result.outcomes)
    return outcomes


async def list_checkpoints(*, session: AsyncSession, workspace_id: int) -> list[MailboxCheckpoint]:
    """Every checkpoint of the workspace, by mailbox and folder."""
    query = (
        select(MailboxCheckpoint)
        .where(MailboxCheckpoint.workspace_id == workspace_id)
        .order_by(col(MailboxCheckpoint.mailbox), col(MailboxCheckpoint.folder))
    )
    return list((await session.exec(query)).all())
