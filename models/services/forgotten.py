"""Tombstones of forgotten people: written at erasure, checked at capture.

A tombstone is an HMAC of a normalized email or E.164 phone under the workspace's random
erasure key, so it matches later mail from the person without saying who they were.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import RawItem
from models.db import query_rows, table_of
from models.privacy import ErasureKey, ErasureTombstone
from models.services.identity import normalize_email
from models.services.inputs import ActivityIn, PersonIn
from models.services.scrub import scrub_bytes


def tombstone_digest(key: str, kind: str, value: str) -> str:
    """The digest kept for one identity.

    >>> len(tombstone_digest("k", "email", "a@b.example"))
    64
    """
    return hmac.new(key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


_KEY = select(table_of(ErasureKey).c.key).where(
    table_of(ErasureKey).c.workspace_id == bindparam("workspace_id")
)
"""The workspace's tombstone key (built once: every capture checks for one)."""


async def _key(session: AsyncSession, workspace_id: int, *, create: bool) -> str | None:
    found = await query_rows(session, _KEY, workspace_id=workspace_id)
    if found or not create:
        return str(found[0].key) if found else None
    made = ErasureKey(workspace_id=workspace_id, key=secrets.token_hex(32))
    session.add(made)
    await session.flush()
    return made.key


async def add_tombstones(
    *, session: AsyncSession, workspace_id: int, identities: Sequence[tuple[str, str]]
) -> list[str]:
    """Tombstone each (kind, normalized value); returns the digests (for the receipt)."""
    key = await _key(session, workspace_id, create=True)
    assert key is not None
    digests = []
    for kind, value in identities:
        digest = tombstone_digest(key, kind, value)
        digests.append(digest)
        exists = await session.exec(
            select(ErasureTombstone.id).where(
                ErasureTombstone.workspace_id == workspace_id,
                ErasureTombstone.kind == kind,
                ErasureTombstone.digest == digest,
            )
        )
        if exists.first() is None:
            session.add(ErasureTombstone(workspace_id=workspace_id, kind=kind, digest=digest))
    await session.flush()
    return digests


def _identities(person: PersonIn) -> list[tuple[str, str]]:
    found = [("email", normalize_email(person.email))] if person.email else []
    return found + ([("phone", person.phone)] if person.phone else [])


async def without_forgotten(
    *, session: AsyncSession, workspace_id: int, items: Sequence[ActivityIn]
) -> list[ActivityIn]:
    """The items, with any that involves a forgotten person made inert (nothing stored).

    The whole item goes, not only the person: its text and bytes would name them. A body
    the webhook inbox stored before capture has their identifiers replaced.
    """
    key = await _key(session, workspace_id, create=False)
    if key is None:
        return list(items)
    wanted = {
        tombstone_digest(key, kind, value)
        for item in items
        for person in item.people
        for kind, value in _identities(person)
    }
    if not wanted:
        return list(items)
    query = select(ErasureTombstone.digest).where(
        ErasureTombstone.workspace_id == workspace_id,
        col(ErasureTombstone.digest).in_(wanted),
    )
    dead = set((await session.exec(query)).all())
    if not dead:
        return list(items)

    def forgotten(item: ActivityIn) -> bool:
        return any(
            tombstone_digest(key, k, v) in dead for p in item.people for k, v in _identities(p)
        )

    kept = []
    for item in items:
        if forgotten(item):
            await _scrub_stored_body(session, item)
            item = _inert(item)
        kept.append(item)
    return kept


async def _scrub_stored_body(session: AsyncSession, item: ActivityIn) -> None:
    """A webhook body stored before capture loses the forgotten person's identifiers."""
    raw = await session.get(RawItem, item.raw_item_id) if item.raw_item_id else None
    if raw is None:
        return
    needles = [
        value
        for person in item.people
        for value in (person.email, person.phone, person.name)
        if value and len(value) >= 3
    ]
    raw.body = scrub_bytes(raw.body, sorted(needles, key=len, reverse=True))
    session.add(raw)


def _inert(item: ActivityIn) -> ActivityIn:
    """An item that stores nothing: no people, text, facts or bytes, never an update."""
    return replace(item, people=(), subject=None, body=None, facts={}, raw=None,
                   visitor_id=None, update="never", rep_email=None)  # fmt: skip
