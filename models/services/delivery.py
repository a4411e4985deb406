"""When a nudge may reach its rep: quiet hours in the rep's own time zone, a per-rep hourly cap.

Both only delay a nudge, never drop it. Confirmations of something the rep just did are
exempt (see :func:`models.services.nudges.is_confirmation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.config import NudgeConfig
from models.nudge import Nudge
from models.workspace import User

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DeliveryRules:
    """Quiet hours (``quiet_start == quiet_end`` means none) and nudges per rep per hour."""

    quiet_start: time
    quiet_end: time
    per_rep_per_hour: int

    @classmethod
    def of(cls, config: NudgeConfig) -> DeliveryRules:
        """The rules app.yaml's ``crm.nudges`` sets."""
        return cls(config.quiet_start, config.quiet_end, config.per_rep_per_hour)


def zone(name: str | None) -> ZoneInfo:
    """A time zone by name; UTC for an unknown or missing one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_until(now: datetime, tz: ZoneInfo, start: time, end: time) -> datetime | None:
    """When quiet hours end, in UTC, if ``now`` falls inside them where the rep is.

    >>> from datetime import UTC
    >>> ny = ZoneInfo("America/New_York")
    >>> quiet_until(datetime(2026, 11, 20, 3, 0, tzinfo=UTC), ny, time(20), time(8))
    datetime.datetime(2026, 11, 20, 13, 0, tzinfo=datetime.timezone.utc)
    >>> quiet_until(datetime(2026, 11, 20, 15, 0, tzinfo=UTC), ny, time(20), time(8)) is None
    True
    """
    if start == end:
        return None
    local = now.astimezone(tz)
    moment = local.time().replace(tzinfo=None)
    inside = start <= moment < end if start < end else moment >= start or moment < end
    if not inside:
        return None
    day = local.date() if moment < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)


async def _rate_limited_until(
    session: AsyncSession, recipient_id: int, limit: int, now: datetime
) -> datetime | None:
    sent = (
        await session.exec(
            select(Nudge.sent_at, Nudge.cause)
            .where(
                Nudge.recipient_id == recipient_id,
                Nudge.state == "sent",
                col(Nudge.sent_at) > now - HOUR,
            )
            .order_by(col(Nudge.sent_at))
        )
    ).all()
    times = [at for at, cause in sent if at is not None and not cause.endswith("_ack")]
    if len(times) < limit:
        return None
    return times[len(times) - limit] + HOUR


async def held_until(
    *, session: AsyncSession, nudge: Nudge, rules: DeliveryRules, now: datetime
) -> datetime | None:
    """The moment this nudge may go to its rep, if not now (quiet hours, then the hourly cap)."""
    if nudge.recipient_id is None:
        return None
    rep = await session.get(User, nudge.recipient_id)
    tz = zone(rep.tz if rep is not None else None)
    quiet = quiet_until(now, tz, rules.quiet_start, rules.quiet_end)
    if quiet is not None:
        return quiet
    return await _rate_limited_until(session, nudge.recipient_id, rules.per_rep_per_hour, now)
