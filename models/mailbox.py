"""Per-mailbox IMAP checkpoints, stored with the messages they cover."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import time_field, workspace_fk


class MailboxCheckpoint(SQLModel, table=True):
    """UIDVALIDITY and the last UID captured for one folder of one mailbox."""

    __table_args__ = (UniqueConstraint("workspace_id", "mailbox", "folder"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    mailbox: str = Field(max_length=100)
    folder: str = Field(default="INBOX", max_length=200)
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime | None = time_field()
