"""Slack event deliveries: the first one of an event id has an effect, retries none."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.nudge import SlackEventReceipt


async def first_delivery(*, session: AsyncSession, event_id: str, event_type: str) -> bool:
    """Record an event id; False if it was already recorded (a retry).

    The row is written in the transaction of the event's effect, so a failed attempt
    leaves no receipt and Slack's retry is processed.
    """
    query = select(SlackEventReceipt.id).where(SlackEventReceipt.event_id == event_id)
    if (await session.exec(query)).first() is not None:
        return False
    session.add(SlackEventReceipt(event_id=event_id, event_type=event_type))
    await session.flush()
    return True
