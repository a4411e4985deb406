"""Workspaces and the team directory from app.yaml; time zones from Slack."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam
from sqlmodel import col, select
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
    """Create or update the users declared in app.yaml; returns them by work email.

    app.yaml's ``tz`` seeds a member's zone; once they have a Slack id, the stored zone
    (which Slack keeps current, see :func:`set_time_zones`) stays.
    """
    existing = {
        user.email: user
        for user in (await session.exec(select(User).where(User.workspace_id == workspace_id)))
        if user.email
    }
    for member in team:
        email = member.email.strip().lower()
        user = existing.get(email) or User(workspace_id=workspace_id, email=email)
        if user.id is None or not member.slack_id:
            user.tz = member.tz
        user.slack_user_id, user.name, user.role = member.slack_id, member.name, member.role
        session.add(user)
        existing[email] = user
    await session.flush()
    by_slack = {u.slack_user_id: u for u in existing.values() if u.slack_user_id}
    for member in team:
        if member.manager and member.manager in by_slack:
            existing[member.email.strip().lower()].manager_id = by_slack[member.manager].id
    await session.flush()
    return {email: user for email, user in existing.items() if email}


async def slack_user_ids(*, session: AsyncSession, workspace_id: int) -> list[str]:
    """The Slack ids of everyone in the workspace who has one."""
    query = select(User.slack_user_id).where(
        User.workspace_id == workspace_id, col(User.slack_user_id).is_not(None)
    )
    return [slack_id for slack_id in (await session.exec(query)).all() if slack_id]


async def set_time_zones(
    *, session: AsyncSession, workspace_id: int, zones: Mapping[str, str]
) -> int:
    """Store each known person's zone, by Slack id (people Nudge does not know are skipped);
    returns how many changed."""
    if not zones:
        return 0
    query = select(User).where(
        User.workspace_id == workspace_id, col(User.slack_user_id).in_(list(zones))
    )
    changed = 0
    for user in (await session.exec(query)).all():
        zone = zones.get(user.slack_user_id or "")
        if zone is not None and zone != user.tz:
            user.tz = zone
            session.add(user)
            changed += 1
    await session.flush()
    return changed


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
