"""Poisoning resistance for feedback (C5.6): who may teach, how much, and what looks wrong.

- Feedback counts only from people who may see the lead (:mod:`models.services.access`).
- One person's learned weight is capped per hour; verdicts over the cap are kept (so the
  audit and model health show them) but not learned.
- A burst (many verdicts in an hour) or a one-sided run (the last N all right or all wrong)
  is flagged to every admin, once per person per day.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.config import FeedbackConfig
from models.contact import Contact
from models.feedback import Feedback
from models.nudge import Nudge
from models.services.access import can_see_contact, viewer_for
from models.services.audit import record_audit
from models.services.nudges import queue_nudge
from models.types import utcnow
from models.workspace import User

HOUR = timedelta(hours=1)
ALERT = "feedback_alert"


async def may_teach(
    *, session: AsyncSession, workspace_id: int, slack_user_id: str, contact: Contact
) -> bool:
    """Whether this person may see the lead, and so may teach the model about it."""
    viewer = await viewer_for(
        session=session, workspace_id=workspace_id, slack_user_id=slack_user_id
    )
    return can_see_contact(viewer, contact)


async def over_cap(
    *, session: AsyncSession, workspace_id: int, slack_user_id: str, weight: float,
    config: FeedbackConfig,
) -> bool:  # fmt: skip
    """Whether learning ``weight`` more would take the person past their hourly cap."""
    learned = await session.exec(
        select(func.coalesce(func.sum(Feedback.weight), 0.0)).where(
            Feedback.workspace_id == workspace_id,
            Feedback.slack_user_id == slack_user_id,
            col(Feedback.learned).is_(True),
            col(Feedback.reversed_at).is_(None),
            col(Feedback.created_at) >= utcnow() - HOUR,
        )
    )
    return float(learned.one()) + weight > config.max_weight_per_user_hour + 1e-9


async def _patterns(
    session: AsyncSession, workspace_id: int, slack_user_id: str, config: FeedbackConfig
) -> dict[str, Any]:
    in_hour = (
        await session.exec(
            select(func.count())
            .select_from(Feedback)
            .where(
                Feedback.workspace_id == workspace_id,
                Feedback.slack_user_id == slack_user_id,
                col(Feedback.created_at) >= utcnow() - HOUR,
            )
        )
    ).one()
    last = (
        await session.exec(
            select(Feedback.label)
            .where(Feedback.workspace_id == workspace_id, Feedback.slack_user_id == slack_user_id,
                   col(Feedback.reversed_at).is_(None))
            .order_by(col(Feedback.id).desc())
            .limit(config.one_sided_after)
        )
    ).all()  # fmt: skip
    found: dict[str, Any] = {}
    if in_hour >= config.burst_per_hour:
        found["burst"] = int(in_hour)
    if len(last) == config.one_sided_after and len(set(last)) == 1:
        found["one_sided"] = {"label": bool(last[0]), "run": len(last)}
    return found


async def flag_feedback(
    *, session: AsyncSession, workspace_id: int, slack_user_id: str, config: FeedbackConfig
) -> list[Nudge]:
    """Alert every admin about a burst or a one-sided run, once per person per day."""
    found = await _patterns(session, workspace_id, slack_user_id, config)
    if not found:
        return []
    admins = await session.exec(
        select(User).where(
            User.workspace_id == workspace_id,
            User.role == "admin",
            col(User.slack_user_id).is_not(None),
        )
    )
    queued = []
    for admin in admins.all():
        nudge = await queue_nudge(
            session=session,
            workspace_id=workspace_id,
            cause=ALERT,
            subject=f"user:{slack_user_id}:to:{admin.id}",
            facts={"day": utcnow().date().isoformat()},
            target=(admin.slack_user_id or "", admin.id),
            payload={"user": slack_user_id, **found},
        )
        if nudge is not None:
            queued.append(nudge)
    return queued


async def hold_feedback(
    *, session: AsyncSession, nudge: Nudge, contact_id: int | None, slack_user_id: str,
    verdict: tuple[str, str, bool, float], removed: bool, reason: str, existing: Feedback | None,
) -> None:  # fmt: skip
    """Keep a verdict that is not learned (over the cap), or take back one never learned.

    ``verdict`` is (kind, signal, label, weight). Audited with the reason.
    """
    kind, signal, label, weight = verdict
    row = existing or Feedback(
        workspace_id=nudge.workspace_id, nudge_id=nudge.id or 0, contact_id=contact_id,
        slack_user_id=slack_user_id, kind=kind, signal=signal, label=label, weight=weight,
        learned=False,
    )  # fmt: skip
    row.reversed_at = utcnow() if removed else None
    session.add(row)
    await session.flush()
    await record_audit(
        session=session,
        workspace_id=nudge.workspace_id,
        actor=f"slack:{slack_user_id}",
        action="feedback.removed" if removed else "feedback.held",
        target_type="nudge",
        target_id=nudge.id,
        after={"signal": signal, "label": label, "weight": weight, "learned": False,
               "reason": reason},
    )  # fmt: skip


async def refuse_feedback(*, session: AsyncSession, nudge: Nudge, slack_user_id: str) -> None:
    """Audit a verdict from someone who may not see the lead (it teaches nothing)."""
    await record_audit(
        session=session,
        workspace_id=nudge.workspace_id,
        actor=f"slack:{slack_user_id}",
        action="feedback.refused",
        target_type="nudge",
        target_id=nudge.id,
        after={"reason": "may not see this lead"},
    )
