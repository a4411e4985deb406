"""Roles (rep < manager < admin): where they come from, and the checks every surface makes.

A person's role is, from strongest to weakest source: what an admin set with
``/crm role``; their Slack user id in ``crm.roles``; the highest role of the Slack user
groups ``crm.roles`` names that they belong to; their ``crm.team`` entry; else rep.
:func:`apply_roles` writes that role into ``User.role``, which every look-up reads
(:mod:`models.services.access`); when told who caused a refresh (``slack:usergroups``
after reading the user groups), it audits each person's change of role.

>>> allows("admin", "manager"), allows("rep", "manager"), allows("guest", "rep")
(True, False, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.config import CrmConfig
from models.roles import RoleGrant, RoleGroupMember
from models.services.access import GUEST, Viewer, viewer_for
from models.services.audit import record_audit
from models.types import utcnow
from models.workspace import ROLES, User

RANK = {"guest": 0, "rep": 1, "manager": 2, "admin": 3}


class RoleRequiredError(Exception):
    """The caller's role does not allow the action; ``reason`` is the text to show them."""

    def __init__(self, *, needed: str, role: str, action: str) -> None:
        self.needed, self.role = needed, role
        self.reason = f"Only {_plural(needed)} can {action}; you are {_article(role)} {role}."
        super().__init__(self.reason)


def _plural(role: str) -> str:
    return {"admin": "admins", "manager": "managers and admins"}.get(
        role, "members of the sales team"
    )


def _article(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` is at least ``needed``."""
    return RANK.get(role, 0) >= RANK[needed]


def require(viewer: Viewer, needed: str, action: str) -> Viewer:
    """The viewer, if their role allows ``action``; else :class:`RoleRequiredError`."""
    if not allows(viewer.role, needed):
        raise RoleRequiredError(needed=needed, role=viewer.role, action=action)
    return viewer


async def require_role(
    *, session: AsyncSession, workspace_id: int, slack_user_id: str, needed: str, action: str
) -> Viewer:
    """Look the Slack user up and :func:`require` ``needed`` of them."""
    viewer = await viewer_for(
        session=session, workspace_id=workspace_id, slack_user_id=slack_user_id
    )
    return require(viewer, needed, action)


def _highest(roles: Iterable[str]) -> str | None:
    ranked = sorted(roles, key=RANK.__getitem__)
    return ranked[-1] if ranked else None


def effective_role(
    *,
    slack_user_id: str,
    granted: str | None,
    groups: Iterable[str],
    team_role: str | None,
    config: CrmConfig,
) -> str:
    """The role from the strongest source that has one (see the module docstring)."""
    return _decide(slack_user_id, granted, groups, team_role, config)[0]


def _decide(
    slack_user_id: str,
    granted: str | None,
    groups: Iterable[str],
    team_role: str | None,
    config: CrmConfig,
) -> tuple[str, str]:
    """The effective role and the source it comes from."""
    if granted:
        return granted, "grant"
    if slack_user_id in config.roles:
        return config.roles[slack_user_id], "crm.roles"
    from_groups = _highest(config.roles[g] for g in groups if g in config.roles)
    if from_groups:
        return from_groups, "usergroups"
    return (team_role, "crm.team") if team_role else ("rep", "default")


async def apply_roles(
    *, session: AsyncSession, workspace_id: int, config: CrmConfig, actor: str | None = None
) -> int:
    """Write everyone's effective role into ``User.role``; returns how many changed.

    People with a grant or a ``crm.roles`` entry but no team entry get a user row, so
    look-ups know them. With ``actor``, each change but a grant's (which :func:`grant_role`
    audits) gets an audit row naming the source that decided the new role.
    """
    team = {m.slack_id: m.role for m in config.team}
    grants = {
        g.slack_user_id: g.role
        for g in (
            await session.exec(select(RoleGrant).where(RoleGrant.workspace_id == workspace_id))
        ).all()
    }
    memberships: dict[str, set[str]] = {}
    for member in (
        await session.exec(
            select(RoleGroupMember).where(RoleGroupMember.workspace_id == workspace_id)
        )
    ).all():
        memberships.setdefault(member.slack_user_id, set()).add(member.group_id)
    users = {
        u.slack_user_id: u
        for u in (await session.exec(select(User).where(User.workspace_id == workspace_id))).all()
        if u.slack_user_id
    }
    named = {s for s in config.roles if not s.startswith("S")}
    changed = 0
    for slack_id in sorted(set(users) | set(grants) | named | set(memberships)):
        role, source = _decide(
            slack_id, grants.get(slack_id), memberships.get(slack_id, ()), team.get(slack_id),
            config,
        )  # fmt: skip
        user = users.get(slack_id) or User(workspace_id=workspace_id, slack_user_id=slack_id)
        if user.id is None or user.role != role:
            before = user.role if user.id is not None else GUEST
            user.role = role
            session.add(user)
            changed += 1
            if actor and source != "grant":
                await _audit_change(session, actor, user, before, source)
    await session.flush()
    return changed


async def _audit_change(
    session: AsyncSession, actor: str, user: User, before: str, source: str
) -> None:
    """The audit row of a person's new effective role (a Slack id and roles only)."""
    await record_audit(
        session=session, workspace_id=user.workspace_id, actor=actor, action="role.changed",
        target_type="slack_user", target_id=user.slack_user_id,
        before={"role": before}, after={"role": user.role, "source": source},
    )  # fmt: skip


async def grant_role(
    *,
    session: AsyncSession,
    workspace_id: int,
    actor: str,
    slack_user_id: str,
    role: str,
    config: CrmConfig,
) -> tuple[str, str]:
    """Set a person's role (outranking app.yaml), audited; returns (before, after)."""
    if role not in ROLES:
        raise ValueError(f"role must be rep, manager or admin, not {role!r}")
    before = (
        await viewer_for(session=session, workspace_id=workspace_id, slack_user_id=slack_user_id)
    ).role
    grant = (
        await session.exec(
            select(RoleGrant).where(
                RoleGrant.workspace_id == workspace_id, RoleGrant.slack_user_id == slack_user_id
            )
        )
    ).first() or RoleGrant(workspace_id=workspace_id, slack_user_id=slack_user_id, role=role,
                           granted_by=actor)  # fmt: skip
    grant.role, grant.granted_by, grant.granted_at = role, actor, utcnow()
    session.add(grant)
    await session.flush()
    await apply_roles(session=session, workspace_id=workspace_id, config=config)
    await record_audit(
        session=session,
        workspace_id=workspace_id,
        actor=actor,
        action="role.set",
        target_type="slack_user",
        target_id=slack_user_id,
        before={"role": before},
        after={"role": role},
    )
    return before, role


def role_groups(config: CrmConfig) -> list[str]:
    """The Slack user groups ``crm.roles`` maps to a role."""
    return sorted(s for s in config.roles if s.startswith("S"))


async def store_group_members(
    *, session: AsyncSession, workspace_id: int, members: Mapping[str, Iterable[str]]
) -> None:
    """Replace the stored members of each group read from Slack."""
    for group_id, users in members.items():
        await session.exec(
            delete(RoleGroupMember).where(
                col(RoleGroupMember.workspace_id) == workspace_id,
                col(RoleGroupMember.group_id) == group_id,
            )
        )
        session.add_all(
            RoleGroupMember(workspace_id=workspace_id, group_id=group_id, slack_user_id=user)
            for user in sorted(set(users))
        )
    await session.flush()
