"""Workspaces and the team directory from app.yaml."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.config import TeamMember
from models.workspace import User, Workspace


async def ensure_workspace(*, session: AsyncSession, key: str) -> Workspace:
    """The workspace with this key, created on first use."""
    found = (await session.exec(select(Workspace).where(Workspace.key == key))).first()
    if found is not None:
        return found
    workspace = Workspace(key=key, name=key)
    session.add(workspace)
    await session.flush()
    return workspace


async def bind_slack_team(*, session: AsyncSession, workspace: Workspace, team_id: str) -> None:
    """Record which Slack team this workspace is (learned from ``auth.test``)."""
    if workspace.slack_team_id != team_id:
        workspace.slack_team_id = team_id
        session.add(workspace)
        await session.flush()


async def workspace_for_team(*, session: AsyncSession, team_id: str) -> Workspace | None:
    """The workspace bound to a Slack team, if any."""
    query = select(Workspace).where(Workspace.slack_team_id == team_id)
    return (await session.exec(query)).first()


async def sync_team(
    *, session: AsyncSession, workspace_id: int, team: tuple[TeamMember, ...]
) -> dict[str, User]:
    """Create or update the users declared in app.yaml; returns them by work email."""
    existing = {
        user.email: user
        for user in (await session.exec(select(User).where(User.workspace_id == workspace_id)))
        if user.email
    }
    for member in team:
        email = member.email.strip().lower()
        user = existing.get(email) or User(workspace_id=workspace_id, email=email)
        user.slack_user_id, user.name, user.role, user.tz = (
            member.slack_id,
            member.name,
            member.role,
            member.tz,
        )
        session.add(user)
        existing[email] = user
    await session.flush()
    by_slack = {u.slack_user_id: u for u in existing.values() if u.slack_user_id}
    for member in team:
        if member.manager and member.manager in by_slack:
            existing[member.email.strip().lower()].manager_id = by_slack[member.manager].id
    await session.flush()
    return {email: user for email, user in existing.items() if email}


async def user_by_email(*, session: AsyncSession, workspace_id: int, email: str) -> User | None:
    """A team member by work email."""
    query = select(User).where(User.workspace_id == workspace_id, User.email == email.lower())
    return (await session.exec(query)).first()


async def team_by_email(*, session: AsyncSession, workspace_id: int) -> dict[str, User]:
    """Every team member with a work email, by that email."""
    rows = await session.exec(_TEAM, params={"workspace_id": workspace_id})
    return {u.email: u for u in rows.all() if u.email}


_TEAM = select(User).where(User.workspace_id == bindparam("workspace_id"))
"""Built once: capture asks for the team on every event."""
