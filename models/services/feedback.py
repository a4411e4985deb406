"""Feedback on nudges (reactions and buttons) teaches the model at once, and can be taken back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import PendingUpdate
from learning.store import pseudonym, record_update
from models.config import CrmConfig
from models.contact import Contact
from models.feedback import Feedback
from models.learning import ScoreSnapshot
from models.nudge import Nudge
from models.services.audit import record_audit
from models.services.nudges import nudge_by_message, queue_reply
from models.services.poisoning import (
    flag_feedback,
    hold_feedback,
    may_teach,
    over_cap,
    refuse_feedback,
)
from models.services.scoring import rescore_contact
from models.types import utcnow

LEAD_CAUSES = frozenset({"hot_lead"})


@dataclass(frozen=True, slots=True)
class FeedbackIn:
    """A verdict from Slack: who, on which nudge, with which signal, added or taken back."""

    nudge: Nudge
    slack_user_id: str
    kind: str
    signal: str
    label: bool
    weight: float
    removed: bool = False


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """The feedback row and the score change it caused."""

    feedback: Feedback
    before: int
    after: int
    reply: Nudge


@dataclass(frozen=True, slots=True)
class ReactionIn:
    """A reaction added to or removed from a message, as Slack reported it."""

    channel_id: str
    message_ts: str
    slack_user_id: str
    emoji: str
    removed: bool


@dataclass(frozen=True, slots=True)
class ButtonIn:
    """A feedback button pressed on a nudge."""

    nudge_id: int
    slack_user_id: str
    label: bool


async def feedback_from_reaction(
    *, session: AsyncSession, reaction: ReactionIn, config: CrmConfig
) -> FeedbackIn | None:
    """A reaction as feedback, or None: not on a lead nudge, or an emoji with no meaning."""
    meaning = config.feedback.label_for(reaction.emoji)
    if meaning is None:
        return None
    nudge = await nudge_by_message(
        session=session, channel_id=reaction.channel_id, message_ts=reaction.message_ts
    )
    if nudge is None or nudge.cause not in LEAD_CAUSES:
        return None
    signal = reaction.emoji.split("::", 1)[0]
    return FeedbackIn(
        nudge, reaction.slack_user_id, "reaction", signal, *meaning, removed=reaction.removed
    )


async def feedback_from_button(
    *, session: AsyncSession, button: ButtonIn, config: CrmConfig
) -> FeedbackIn | None:
    """A feedback button as feedback, or None when the nudge is not about a lead."""
    nudge = await session.get(Nudge, button.nudge_id)
    if nudge is None or nudge.cause not in LEAD_CAUSES:
        return None
    signal = "button_right" if button.label else "button_wrong"
    weight = config.feedback.button_weight
    return FeedbackIn(nudge, button.slack_user_id, "button", signal, button.label, weight)


async def _existing(session: AsyncSession, item: FeedbackIn) -> Feedback | None:
    query = select(Feedback).where(
        Feedback.nudge_id == item.nudge.id,
        Feedback.slack_user_id == item.slack_user_id,
        Feedback.signal == item.signal,
    )
    return (await session.exec(query)).first()


async def record_feedback(
    *,
    session: AsyncSession,
    pending: PendingUpdate,
    item: FeedbackIn,
    config: CrmConfig,
    salt: str,
    now: datetime,
) -> FeedbackResult | None:
    """Learn from (or unlearn) one verdict, log it, audit it and confirm in the thread."""
    nudge = item.nudge
    snapshot_id = nudge.payload.get("snapshot_id")
    snapshot = await session.get(ScoreSnapshot, snapshot_id) if snapshot_id else None
    contact = await session.get(Contact, nudge.contact_id) if nudge.contact_id else None
    if snapshot is None or contact is None:
        return None
    row = await _existing(session, item)
    active = row is not None and row.reversed_at is None
    if item.removed != active:
        return None
    if not await may_teach(session=session, workspace_id=nudge.workspace_id,
                           slack_user_id=item.slack_user_id, contact=contact):  # fmt: skip
        await refuse_feedback(session=session, nudge=nudge, slack_user_id=item.slack_user_id)
        return None
    unlearned = row is not None and item.removed and not row.learned
    if unlearned or (not item.removed and await over_cap(
        session=session, workspace_id=nudge.workspace_id, slack_user_id=item.slack_user_id,
        weight=item.weight, config=config.feedback,
    )):  # fmt: skip
        await hold_feedback(
            session=session, nudge=nudge, contact_id=contact.id, slack_user_id=item.slack_user_id,
            verdict=(item.kind, item.signal, item.label, item.weight), removed=item.removed,
            reason="never learned" if unlearned else "hourly learning cap", existing=row,
        )  # fmt: skip
        await flag_feedback(session=session, workspace_id=nudge.workspace_id,
                            slack_user_id=item.slack_user_id, config=config.feedback)  # fmt: skip
        return None
    before = contact.score if contact.score is not None else snapshot.score
    await record_update(
        session=session,
        pending=pending,
        workspace_id=nudge.workspace_id,
        subject=pseudonym(f"contact:{contact.id}", salt=salt),
        actor=pseudonym(f"slack:{item.slack_user_id}", salt=salt),
        source="reversal" if item.removed else item.kind,
        features=snapshot.features,
        label=item.label,
        weight=-item.weight if item.removed else item.weight,
        snapshot_every=config.learning.snapshot_every,
    )
    rescored = await rescore_contact(
        session=session, scorer=pending.as_scorer(), contact=contact, at=now
    )
    after = rescored.score.value
    if row is None:
        row = Feedback(
            workspace_id=nudge.workspace_id,
            nudge_id=nudge.id or 0,
            contact_id=contact.id,
            slack_user_id=item.slack_user_id,
            kind=item.kind,
            signal=item.signal,
            label=item.label,
            weight=item.weight,
        )
    row.reversed_at = utcnow() if item.removed else None
    row.score_before, row.score_after = before, after
    session.add(row)
    await session.flush()
    await record_audit(
        session=session,
        workspace_id=nudge.workspace_id,
        actor=f"slack:{item.slack_user_id}",
        action="feedback.removed" if item.removed else "feedback.added",
        target_type="nudge",
        target_id=nudge.id,
        after={
            "signal": item.signal,
            "label": item.label,
            "weight": item.weight,
            "score_before": before,
            "score_after": after,
        },
    )
    await flag_feedback(session=session, workspace_id=nudge.workspace_id,
                        slack_user_id=item.slack_user_id, config=config.feedback)  # fmt: skip
    reply = await queue_reply(
        session=session,
        parent=nudge,
        cause="feedback_ack",
        dedupe_key=f"feedback:{row.id}:{'removed' if item.removed else 'added'}:{pending.version}",
        payload={
            "user": item.slack_user_id,
            "signal": item.signal,
            "label": item.label,
            "removed": item.removed,
            "before": before,
            "after": after,
            "model_version": pending.version,
        },
    )
    return FeedbackResult(feedback=row, before=before, after=after, reply=reply)
