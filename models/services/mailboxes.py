"""IMAP checkpoints: how far each folder of each mailbox has been captured.

A checkpoint moves in the transaction that stores the message it covers, so a crash either
keeps both or neither: nothing is lost and nothing is captured twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.mailbox import MailboxCheckpoint


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
    *,
    session: AsyncSession,
    workspace_id: int,
    mailbox: str,
    folder: str,
    uidvalidity: int,
    uid: int,
    now: datetime,
) -> bool:
    """Move the checkpoint to ``uid``; False if it already covers it (nothing to do).

    The row is locked for the rest of the transaction, so two workers listening to the
    same folder never store the same message; a new UIDVALIDITY always moves it.
    """
    query = (
        select(MailboxCheckpoint)
        .where(
            MailboxCheckpoint.workspace_id == workspace_id,
            MailboxCheckpoint.mailbox == mailbox,
            MailboxCheckpoint.folder == folder,
        )
        .with_for_update()
    )
    row = (await session.exec(query)).first()
    if row is None:
        row = MailboxCheckpoint(workspace_id=workspace_id, mailbox=mailbox, folder=folder)
    elif row.uidvalidity == uidvalidity and row.last_uid >= uid:
        return False
    row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, uid, now
    session.add(row)
    await session.flush()
    return True


async def list_checkpoints(*, session: AsyncSession, workspace_id: int) -> list[MailboxCheckpoint]:
    """Every checkpoint of the workspace, by mailbox and folder."""
    query = (
        select(MailboxCheckpoint)
        .where(MailboxCheckpoint.workspace_id == workspace_id)
        .order_by(col(MailboxCheckpoint.mailbox), col(MailboxCheckpoint.folder))
    )
    return list((await session.exec(query)).all())
