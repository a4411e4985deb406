"""Which contacts an activity is on: participants, and anonymous visits joined to a person."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import Activity, ActivityParticipant
from models.contact import Contact, ContactIdentity


async def add_participant(*, session: AsyncSession, activity: Activity, contact_id: int) -> bool:
    """Put an activity on a contact's timeline (once); True if it was not there yet."""
    assert activity.id is not None
    query = select(ActivityParticipant.id).where(
        ActivityParticipant.activity_id == activity.id,
        ActivityParticipant.contact_id == contact_id,
    )
    if (await session.exec(query)).first() is not None:
        return False
    session.add(
        ActivityParticipant(
            workspace_id=activity.workspace_id, activity_id=activity.id, contact_id=contact_id
        )
    )
    if activity.contact_id is None:
        activity.contact_id = contact_id
        contact = await session.get(Contact, contact_id)
        activity.account_id = activity.account_id or (contact.account_id if contact else None)
        session.add(activity)
    await session.flush()
    return True


async def participants_of(*, session: AsyncSession, activity: Activity) -> list[Contact]:
    """The contacts an activity is already on."""
    query = (
        select(Contact)
        .join(ActivityParticipant, col(ActivityParticipant.contact_id) == col(Contact.id))
        .where(ActivityParticipant.activity_id == activity.id)
    )
    return list((await session.exec(query)).all())


async def stitch_visitor(*, session: AsyncSession, contact: Contact, visitor_id: str) -> int:
    """Tie a web visitor id to a contact and move their earlier anonymous visits over.

    An id already tied to another contact is left as it is (first answer wins). Returns
    how many earlier activities joined the contact's timeline.
    """
    assert contact.id is not None
    query = select(ContactIdentity).where(
        ContactIdentity.workspace_id == contact.workspace_id,
        ContactIdentity.kind == "visitor",
        ContactIdentity.value == visitor_id,
    )
    identity = (await session.exec(query)).first()
    if identity is None:
        session.add(
            ContactIdentity(
                workspace_id=contact.workspace_id,
                contact_id=contact.id,
                kind="visitor",
                value=visitor_id,
            )
        )
    elif identity.contact_id != contact.id:
        return 0
    anonymous = await session.exec(
        select(Activity).where(
            Activity.workspace_id == contact.workspace_id,
            Activity.visitor_id == visitor_id,
            col(Activity.contact_id).is_(None),
        )
    )
    moved = 0
    for activity in anonymous.all():
        moved += await add_participant(session=session, activity=activity, contact_id=contact.id)
        if contact.last_touch_at is None or contact.last_touch_at < activity.occurred_at:
            contact.last_touch_at = activity.occurred_at
    session.add(contact)
    return moved
