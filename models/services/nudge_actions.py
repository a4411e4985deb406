"""What the buttons on a nudge do: Mark contacted and Snooze. Each is safe to press twice.

Both write a note on the nudge, which makes the poster update the message
(:func:`models.services.nudges.add_note`), in the same transaction as their effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import Scorer
from models.activity import Activity, ActivityParticipant
from models.contact import Contact
from models.deal import Deal
from models.nudge import Nudge
from models.services.access import may_act_on
from models.services.audit import record_audit
from models.services.outbox_rows import add_note
from models.services.scoring import rescore_contact
from models.services.snooze import snooze
from models.workspace import User

CONTACTED_SOURCE = "slack"


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What pressing the button did: ``done``, ``already`` (nothing new), ``gone`` or
    ``refused`` (the presser may not see the lead or deal)."""

    outcome: str
    nudge: Nudge | None = None


async def _nudge(
    session: AsyncSession, workspace_id: int, nudge_id: int, slack_user_id: str
) -> Nudge | ActionResult:
    """The nudge, locked; or the result to answer when it is gone or not the presser's to act on."""
    query = (
        select(Nudge)
        .where(Nudge.id == nudge_id, Nudge.workspace_id == workspace_id)
        .with_for_update()
    )
    nudge = (await session.exec(query)).first()
    if nudge is None:
        return ActionResult("gone")
    allowed = await may_act_on(
        session=session, workspace_id=workspace_id, slack_user_id=slack_user_id,
        contact_ids=(nudge.contact_id,), deal_ids=(nudge.deal_id,),
    )  # fmt: skip
    return nudge if allowed else ActionResult("refused", nudge)


async def _record_contact(
    session: AsyncSession, nudge: Nudge, slack_user_id: str, now: datetime
) -> Activity | None:
    """A ``note`` activity from the rep, once per nudge, on the lead's timeline."""
    external_id = f"contacted:nudge:{nudge.id}"
    known = (
        await session.exec(
            select(Activity.id).where(
                Activity.workspace_id == nudge.workspace_id,
                Activity.source == CONTACTED_SOURCE,
                Activity.external_id == external_id,
            )
        )
    ).first()
    if known is not None:
        return None
    contact = await session.get(Contact, nudge.contact_id) if nudge.contact_id else None
    deal = await session.get(Deal, nudge.deal_id) if nudge.deal_id else None
    rep = (
        await session.exec(
            select(User).where(
                User.workspace_id == nudge.workspace_id, User.slack_user_id == slack_user_id
            )
        )
    ).first()
    activity = Activity(
        workspace_id=nudge.workspace_id,
        kind="note",
        source=CONTACTED_SOURCE,
        external_id=external_id,
        contact_id=contact.id if contact else None,
        account_id=(contact.account_id if contact else None) or (deal.account_id if deal else None),
        deal_id=deal.id if deal else None,
        user_id=rep.id if rep else None,
        occurred_at=now,
        direction="out",
        facts={"contacted": True},
    )
    try:
        async with session.begin_nested():
            session.add(activity)
            await session.flush()
            if contact is not None:
                session.add(ActivityParticipant(workspace_id=nudge.workspace_id,
                                                activity_id=activity.id or 0,
                                                contact_id=contact.id or 0))  # fmt: skip
                if contact.last_touch_at is None or contact.last_touch_at < now:
                    contact.last_touch_at = now
                    session.add(contact)
                await session.flush()
    except IntegrityError:  # pressed twice at once: the other press recorded it
        return None
    return activity


async def mark_contacted(
    *,
    session: AsyncSession,
    scorer: Scorer,
    workspace_id: int,
    nudge_id: int,
    slack_user_id: str,
    now: datetime,
) -> ActionResult:
    """Record that the rep reached out (scoring sees the note) and say so on the message."""
    nudge = await _nudge(session, workspace_id, nudge_id, slack_user_id)
    if isinstance(nudge, ActionResult):
        return nudge
    if "contacted" in nudge.notes:
        return ActionResult("already", nudge)
    activity = await _record_contact(session, nudge, slack_user_id, now)
    add_note(nudge, key="contacted", value={"by": slack_user_id, "at": now.isoformat()}, now=now)
    session.add(nudge)
    await record_audit(session=session, workspace_id=workspace_id, actor=f"slack:{slack_user_id}",
                       action="nudge.contacted", target_type="nudge", target_id=nudge.id,
                       after={"activity_id": activity.id if activity else None})  # fmt: skip
    contact = await session.get(Contact, nudge.contact_id) if nudge.contact_id else None
    if contact is not None:
        await rescore_contact(session=session, scorer=scorer, contact=contact, at=now)
    await session.flush()
    return ActionResult("done", nudge)


async def snooze_nudge(
    *,
    session: AsyncSession,
    workspace_id: int,
    nudge_id: int,
    slack_user_id: str,
    days: int,
    now: datetime,
) -> ActionResult:
    """No nudge about the nudge's deal (else its lead) for ``days``; the message says until when.

    A shorter snooze pressed after a longer one keeps the longer one.
    """
    nudge = await _nudge(session, workspace_id, nudge_id, slack_user_id)
    if isinstance(nudge, ActionResult):
        return nudge
    if nudge.deal_id is not None:
        subject = f"deal:{nudge.deal_id}"
    elif nudge.contact_id is not None:
        subject = f"contact:{nudge.contact_id}"
    else:
        return ActionResult("gone")
    until = now + timedelta(days=days)
    if not await snooze(session=session, workspace_id=workspace_id, subject=subject, until=until,
                        by=slack_user_id):  # fmt: skip
        return ActionResult("already", nudge)
    add_note(nudge, key="snoozed", value={"by": slack_user_id, "until": until.isoformat()},
             now=now)  # fmt: skip
    session.add(nudge)
    kind, _, subject_id = subject.partition(":")
    await record_audit(
        session=session,
        workspace_id=workspace_id,
        actor=f"slack:{slack_user_id}",
        action="nudge.snoozed",
        target_type=kind,
        target_id=subject_id,
        after={"until": until.isoformat()},
    )
    await session.flush()
    return ActionResult("done", nudge)
