"""Which rows an API call may touch: those the token's person may see (SPEC C5.1).

The rules are the Slack side's (:mod:`models.services.access`): a rep reaches their own and
shared records, a manager their team's too, an admin everything. Records without an owner
of their own are reached through the ones they belong to; a table not named here is
reached by admins only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, true
from sqlmodel import col, select

from models.account import Account
from models.activity import Activity, ActivityParticipant
from models.contact import Contact
from models.deal import Deal
from models.nudge import Nudge
from models.services.access import Viewer, visible

OWNED: dict[type[Any], Any] = {
    Account: Account.owner_id,
    Contact: Contact.owner_id,
    Deal: Deal.owner_id,
    Nudge: Nudge.recipient_id,
}


def _activities(viewer: Viewer) -> ColumnElement[bool]:
    """An activity is reached through a contact taking part, its deal, or its team member."""
    contacts = select(Contact.id).where(visible(viewer, Contact.owner_id))
    deals = select(Deal.id).where(visible(viewer, Deal.owner_id))
    taking_part = select(ActivityParticipant.activity_id).where(
        col(ActivityParticipant.contact_id).in_(contacts)
    )
    return or_(
        col(Activity.contact_id).in_(contacts),
        col(Activity.id).in_(taking_part),
        col(Activity.deal_id).in_(deals),
        col(Activity.user_id).in_(sorted(viewer.visible_owner_ids)),
    )


def reach(viewer: Viewer, table: type[Any]) -> ColumnElement[bool]:
    """A SQL condition keeping the rows of ``table`` the viewer may see."""
    if viewer.is_admin:
        return true()
    if table in OWNED:
        return visible(viewer, OWNED[table])
    if table is Activity:
        return _activities(viewer)
    return false()
