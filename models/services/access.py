"""Who may see what (SPEC C5.1): every look-up builds a :class:`Viewer` and asks it.

- a **rep** sees the records they own and shared ones (no owner);
- a **manager** also sees everything owned by their team: the people whose
  ``User.manager_id`` is them, and those people's reports in turn;
- an **admin** sees everything;
- a Slack user who is not on the team (a **guest**) sees only shared records.

Records are judged by their own ``owner_id`` (contacts, deals, accounts, hygiene issues).
Use :func:`can_see_owner` (and its named forms) on loaded rows and :func:`visible` to
filter a query in SQL:

>>> rep = Viewer(slack_user_id="U1", user_id=1, role="rep", visible_owner_ids=frozenset({1}))
>>> can_see_owner(rep, 1), can_see_owner(rep, None), can_see_owner(rep, 2)
(True, True, False)
>>> boss = Viewer(slack_user_id="U9", user_id=9, role="admin", visible_owner_ids=frozenset())
>>> can_see_owner(boss, 2)
True
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.contact import Contact
from models.deal import Deal
from models.workspace import User

GUEST = "guest"


class AccessDeniedError(Exception):
    """The record exists but the viewer may not see it (the message names only its kind)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person asking: their team user id (None for a guest), role and whose records they see.

    ``visible_owner_ids`` holds the owners whose records this viewer may see besides
    shared ones; it is ignored for admins, who see everything.
    """

    slack_user_id: str
    user_id: int | None
    role: str
    visible_owner_ids: frozenset[int]

    @property
    def is_admin(self) -> bool:
        """Sees every record."""
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        """Sees their team's records (admins are not counted here)."""
        return self.role == "manager"

    @property
    def is_member(self) -> bool:
        """On the sales team (not a guest)."""
        return self.user_id is not None


def can_see_owner(viewer: Viewer, owner_id: int | None) -> bool:
    """Whether a record owned by ``owner_id`` (None: shared) is visible to ``viewer``."""
    return viewer.is_admin or owner_id is None or owner_id in viewer.visible_owner_ids


def can_see_contact(viewer: Viewer, contact: Contact) -> bool:
    """Whether the viewer may see this contact's profile."""
    return can_see_owner(viewer, contact.owner_id)


def can_see_deal(viewer: Viewer, deal: Deal) -> bool:
    """Whether the viewer may see this deal."""
    return can_see_owner(viewer, deal.owner_id)


def can_see_account(viewer: Viewer, account: Account) -> bool:
    """Whether the viewer may see this account."""
    return can_see_owner(viewer, account.owner_id)


def can_see_user(viewer: Viewer, user_id: int) -> bool:
    """Whether the viewer may look at this team member's records (pipeline, home)."""
    return viewer.is_admin or user_id in viewer.visible_owner_ids


def visible(viewer: Viewer, owner_column: int | None) -> ColumnElement[bool]:
    """A SQL condition keeping the rows the viewer may see, given their owner column.

    ``owner_column`` is a model attribute such as ``Contact.owner_id``.
    """
    if viewer.is_admin:
        return true()
    owner = col(owner_column)
    condition: ColumnElement[bool] = or_(
        owner.is_(None), owner.in_(sorted(viewer.visible_owner_ids))
    )
    return condition


def reports_of(users: list[User], manager_id: int) -> set[int]:
    """Everyone under a manager, directly or through other managers (cycles are safe).

    >>> people = [User(id=1), User(id=2, manager_id=1), User(id=3, manager_id=2), User(id=4)]
    >>> sorted(reports_of(people, 1))
    [2, 3]
    """
    below: dict[int, list[int]] = {}
    for user in users:
        if user.manager_id is not None and user.id is not None:
            below.setdefault(user.manager_id, []).append(user.id)
    found: set[int] = set()
    waiting = [manager_id]
    while waiting:
        for report in below.get(waiting.pop(), []):
            if report not in found and report != manager_id:
                found.add(report)
                waiting.append(report)
    return found


def viewer_of(user: User, users: list[User]) -> Viewer:
    """The viewer for a known team member, given the workspace's users."""
    assert user.id is not None
    owners = {user.id}
    if user.role in ("manager", "admin"):
        owners |= reports_of(users, user.id)
    return Viewer(
        slack_user_id=user.slack_user_id or "",
        user_id=user.id,
        role=user.role,
        visible_owner_ids=frozenset(owners),
    )


async def workspace_users(*, session: AsyncSession, workspace_id: int) -> list[User]:
    """Every team member of the workspace."""
    query = select(User).where(User.workspace_id == workspace_id).order_by(col(User.id))
    return list((await session.exec(query)).all())


async def viewer_for(*, session: AsyncSession, workspace_id: int, slack_user_id: str) -> Viewer:
    """The viewer for a Slack user; someone not on the team is a guest seeing shared records."""
    users = await workspace_users(session=session, workspace_id=workspace_id)
    user = next((u for u in users if u.slack_user_id == slack_user_id), None)
    if user is None:
        return Viewer(
            slack_user_id=slack_user_id, user_id=None, role=GUEST, visible_owner_ids=frozenset()
        )
    return viewer_of(user, users)


async def may_act_on(
    *,
    session: AsyncSession,
    workspace_id: int,
    slack_user_id: str,
    contact_ids: tuple[int | None, ...] = (),
    deal_ids: tuple[int | None, ...] = (),
) -> bool:
    """Whether this Slack user may act on these records (a nudge's buttons, a data fix, a
    merge): a team member who may see every one of them. Records gone count as visible."""
    viewer = await viewer_for(
        session=session, workspace_id=workspace_id, slack_user_id=slack_user_id
    )
    if not viewer.is_member:
        return False
    rows: list[Contact | Deal | None] = [
        *[await session.get(Contact, i) for i in contact_ids if i is not None],
        *[await session.get(Deal, i) for i in deal_ids if i is not None],
    ]
    return all(row is None or can_see_owner(viewer, row.owner_id) for row in rows)
