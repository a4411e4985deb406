"""API bearer tokens: made once and shown once, stored as a SHA-256 hash, scoped, revocable.

Every token acts as one team member: a call through it sees and changes what that person's
current role lets them (:func:`token_viewer`), so a demotion takes effect on the next call.

>>> token_hash("ndg_example") == token_hash("ndg_example") != token_hash("ndg_other")
True
>>> parse_scopes("contacts:read, deals:write contacts:read")
['contacts:read', 'deals:write']
>>> parse_scopes("contacts:delete")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown scope 'contacts:delete'; known scopes: accounts:read, ...
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.integration import ApiToken
from models.services.access import Viewer, viewer_of, workspace_users
from models.services.audit import record_audit
from models.types import utcnow
from models.workspace import User

SCOPES = {
    "accounts:read": "list and read accounts",
    "contacts:read": "list and read contacts and their unified profiles",
    "contacts:write": "create and update contacts",
    "deals:read": "list and read deals",
    "deals:write": "create, update and close deals",
    "activities:read": "list and read activities",
    "nudges:read": "list nudges",
    "audit:read": "read the audit trail (admins only)",
    "webhooks:write": "manage outbound webhook subscriptions (admins only)",
}
PREFIX = "ndg_"
_USE_GRANULARITY = timedelta(minutes=1)


def token_hash(secret: str) -> str:
    """The stored form of a token: hex SHA-256 (the token has 256 bits of entropy)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> list[str]:
    """Scopes from a comma- or space-separated text, checked and without repeats."""
    words = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    chosen: list[str] = []
    for word in words:
        if word not in SCOPES:
            known = ", ".join(sorted(SCOPES))
            raise ValueError(f"unknown scope {word!r}; known scopes: {known}")
        if word not in chosen:
            chosen.append(word)
    return chosen


def token_actor(token: ApiToken) -> str:
    """How a token appears in the audit trail."""
    return f"token:{token.id}"


async def find_member(*, session: AsyncSession, workspace_id: int, who: str) -> User | None:
    """The team member with this Slack user id or (any case) email, or None."""
    who = who.strip()
    query = select(User).where(
        User.workspace_id == workspace_id,
        or_(col(User.slack_user_id) == who, func.lower(col(User.email)) == who.lower()),
    )
    return (await session.exec(query)).first()


async def create_token(
    *,
    session: AsyncSession,
    workspace_id: int,
    name: str,
    scopes: Sequence[str],
    acting_as: str,
    actor: str,
) -> tuple[ApiToken, str]:
    """A new token acting as ``acting_as`` (Slack user id or email of a team member), and its
    secret, which is not stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a token needs a name of 1 to 100 characters")
    chosen = parse_scopes(scopes)
    if not chosen:
        raise ValueError("a token needs at least one scope")
    user = await find_member(session=session, workspace_id=workspace_id, who=acting_as)
    if user is None:
        raise ValueError(f"no team member has the Slack user id or email {acting_as!r}")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        workspace_id=workspace_id,
        user_id=user.id,
        name=name,
        prefix=secret[:10],
        token_hash=token_hash(secret),
        scopes=chosen,
    )
    session.add(token)
    await session.flush()
    await record_audit(
        session=session, workspace_id=workspace_id, actor=actor, action="token.created",
        target_type="api_token", target_id=token.id,
        after={"name": name, "scopes": chosen, "user_id": user.id},
    )  # fmt: skip
    return token, secret


async def list_tokens(
    *, session: AsyncSession, workspace_id: int
) -> list[tuple[ApiToken, User | None]]:
    """Every token of the workspace and who it acts as, revoked ones included, oldest first."""
    query = (
        select(ApiToken, User)
        .join(User, col(ApiToken.user_id) == col(User.id), isouter=True)
        .where(ApiToken.workspace_id == workspace_id)
        .order_by(col(ApiToken.id))
    )
    return [(token, user) for token, user in (await session.exec(query)).all()]


async def token_viewer(*, session: AsyncSession, token: ApiToken) -> Viewer | None:
    """Who the token acts as, with their current role; None if it has no one (or they left)."""
    if token.user_id is None:
        return None
    users = await workspace_users(session=session, workspace_id=token.workspace_id)
    user = next((u for u in users if u.id == token.user_id), None)
    return None if user is None else viewer_of(user, users)


async def revoke_token(
    *, session: AsyncSession, workspace_id: int, token_id: int, actor: str
) -> ApiToken | None:
    """Revoke a token at once; None if there is no such token. Revoking twice is harmless."""
    token = await session.get(ApiToken, token_id)
    if token is None or token.workspace_id != workspace_id:
        return None
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        await record_audit(
            session=session, workspace_id=workspace_id, actor=actor, action="token.revoked",
            target_type="api_token", target_id=token.id, after={"name": token.name},
        )  # fmt: skip
    return token


async def authenticate(
    *, session: AsyncSession, workspace_id: int, secret: str, now: datetime | None = None
) -> ApiToken | None:
    """The live token of this workspace with this secret, or None; notes when it was used."""
    query = select(ApiToken).where(ApiToken.token_hash == token_hash(secret))
    token = (await session.exec(query)).first()
    if token is None or token.revoked_at is not None or token.workspace_id != workspace_id:
        return None
    at = now or utcnow()
    if token.last_used_at is None or at - token.last_used_at >= _USE_GRANULARITY:
        token.last_used_at = at
        session.add(token)
    return token
