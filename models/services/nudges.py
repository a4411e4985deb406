"""Decide which nudges to write to the outbox, and move them through it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.scorer import Scorer
from models.account import Account
from models.config import CrmConfig
from models.contact import Contact
from models.nudge import Nudge
from models.services.scoring import Scored, rescore_contact
from models.services.snooze import snoozed_until, subjects_of
from models.types import utcnow
from models.workspace import User

LIVE_STATES = ("pending", "sending", "sent")
ACK_SUFFIX = "_ack"


def is_confirmation(cause: str) -> bool:
    """A threaded answer to something a person just did (cause ``..._ack``).

    Confirmations skip quiet hours, rate limits and snoozes, and never wait behind nudges.

    >>> is_confirmation("feedback_ack"), is_confirmation("stale_deal")
    (True, False)
    """
    return cause.endswith(ACK_SUFFIX)


async def destination(
    *, session: AsyncSession, contact: Contact, config: CrmConfig
) -> tuple[str, int | None] | None:
    """Where a nudge about this contact goes: the owner's DM, else the team channel."""
    return await owner_destination(
        session=session, workspace_id=contact.workspace_id, owner_id=contact.owner_id,
        config=config,
    )  # fmt: skip


async def owner_destination(
    *, session: AsyncSession, workspace_id: int, owner_id: int | None, config: CrmConfig
) -> tuple[str, int | None] | None:
    """(channel, recipient user id): the owner's DM (or the team channel, with
    ``nudges.deliver_to: channel``), else the team channel, else the first admin's DM
    (someone must hear about a record nobody owns), else nowhere."""
    owner = await session.get(User, owner_id) if owner_id else None
    if owner is not None and owner.slack_user_id:
        return _to(owner, config)
    return await _fallback_destination(session, workspace_id, config)


def _to(owner: User, config: CrmConfig) -> tuple[str, int | None]:
    """An owner's nudge: to their DM, or to the team channel when app.yaml says so."""
    if config.nudges.deliver_to == "channel" and config.nudges.channel:
        return config.nudges.channel, owner.id
    return owner.slack_user_id or "", owner.id


async def owner_destinations(
    *,
    session: AsyncSession,
    workspace_id: int,
    owner_ids: Collection[int | None],
    config: CrmConfig,
) -> dict[int | None, tuple[str, int | None] | None]:
    """:func:`owner_destination` for many owners, in two queries at most."""
    ids = {owner_id for owner_id in owner_ids if owner_id}
    owners = (await session.exec(select(User).where(col(User.id).in_(ids)))).all() if ids else []
    found: dict[int | None, tuple[str, int | None] | None] = {
        owner.id: _to(owner, config) for owner in owners if owner.slack_user_id
    }
    if any(owner_id not in found for owner_id in owner_ids):
        fallback = await _fallback_destination(session, workspace_id, config)
        found |= {owner_id: fallback for owner_id in owner_ids if owner_id not in found}
    return found


async def _fallback_destination(
    session: AsyncSession, workspace_id: int, config: CrmConfig
) -> tuple[str, int | None] | None:
    """Where nudges about a record nobody (with Slack) owns go."""
    if config.nudges.channel:
        return config.nudges.channel, None
    admin = (await session.exec(_FIRST_ADMIN, params={"workspace_id": workspace_id})).first()
    return (admin.slack_user_id or "", admin.id) if admin is not None else None


_FIRST_ADMIN = (
    select(User)
    .where(User.workspace_id == bindparam("workspace_id"), User.role == "admin")
    .where(col(User.slack_user_id).is_not(None))
    .order_by(col(User.id))
    .limit(1)
)


async def lead_card(*, session: AsyncSession, contact: Contact) -> dict[str, Any]:
    """Who the lead is, as a nudge shows it."""
    account = await session.get(Account, contact.account_id) if contact.account_id else None
    return _card(contact, account)


async def lead_cards(
    *, session: AsyncSession, contacts: Collection[Contact]
) -> dict[int, dict[str, Any]]:
    """:func:`lead_card` for many contacts (by contact id), with their companies in one query."""
    ids = {c.account_id for c in contacts if c.account_id is not None}
    rows = (
        (await session.exec(select(Account).where(col(Account.id).in_(ids)))).all() if ids else []
    )
    accounts = {account.id: account for account in rows}
    return {c.id or 0: _card(c, accounts.get(c.account_id)) for c in contacts}


def _card(contact: Contact, account: Account | None) -> dict[str, Any]:
    return {
        "contact_id": contact.id,
        "name": contact.name,
        "title": contact.title,
        "company": account.name if account else None,
    }


def _news(scored: Scored, config: CrmConfig, first: Nudge | None, now: datetime) -> str | None:
    """'new' for a lead that became hot, 'update' for a jump worth a threaded line, else None.

    A lead told about in the last ``renotify_days`` is not announced again for wobbling
    around the threshold; only a real jump is threaded under the first nudge.
    """
    value, previous = scored.score.value, scored.previous
    jumped = previous is not None and value - previous >= config.scoring.jump
    recent = first is not None and now - first.created_at < timedelta(
        days=config.nudges.renotify_days
    )
    if recent:
        return "update" if jumped and value >= config.scoring.hot else None
    crossed = value >= config.scoring.hot and (previous is None or previous < config.scoring.hot)
    return "new" if crossed or (jumped and value >= config.scoring.hot) else None


async def _latest_lead_nudges(
    session: AsyncSession, contact_ids: Collection[int]
) -> dict[int, Nudge]:
    """Each contact's newest live hot-lead nudge (not a threaded update), in one query."""
    if not contact_ids:
        return {}
    rows = await session.exec(_LEAD_NUDGES, params={"ids": list(contact_ids)})
    return {nudge.contact_id or 0: nudge for nudge in rows.all()}


_LEAD_NUDGES = (
    select(Nudge)
    .where(
        col(Nudge.contact_id).in_(bindparam("ids", expanding=True)),
        Nudge.cause == "hot_lead",
        col(Nudge.parent_id).is_(None),
        col(Nudge.state).in_(LIVE_STATES),
    )
    .order_by(col(Nudge.id))
)
"""Built once: capture asks it for every hot lead it rescores."""


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """A contact just rescored after an activity (``trigger``, delivered as ``event_key``)."""

    contact: Contact
    scored: Scored
    trigger: str
    event_key: str


async def queue_hot_leads(
    *, session: AsyncSession, events: Sequence[LeadEvent], config: CrmConfig, now: datetime
) -> list[Nudge]:
    """Write a hot-lead nudge for each contact whose score crossed the threshold or jumped,
    recently; earlier nudges are looked up for all of them at once.

    A jump while the lead is still hot is threaded under its first nudge.
    """
    age = timedelta(hours=config.nudges.max_age_hours)
    hot = [
        event
        for event in events
        if now - event.scored.taken_at <= age
        and event.scored.score.value >= config.scoring.hot  # else no news, nor a jump
    ]
    firsts = await _latest_lead_nudges(session, {event.contact.id or 0 for event in hot})
    written = []
    for event in hot:
        first = firsts.get(event.contact.id or 0)
        news = _news(event.scored, config, first, now)
        if news is None:
            continue
        nudge = await _write_lead_nudge(
            session, event.contact, event.scored, event.trigger, event.event_key, config,
            first if news == "update" else None,
        )  # fmt: skip
        if nudge is not None:
            written.append(nudge)
    return written


async def sweep_hot_leads(
    *,
    session: AsyncSession,
    scorer: Scorer,
    workspace_id: int,
    config: CrmConfig,
    now: datetime,
    active_days: int = 14,
) -> list[Nudge]:
    """Nudge about leads that are hot now but nobody was told about (after a backfill).

    Only leads touched in the last ``active_days``; each is rescored as of ``now``.
    """
    told = select(Nudge.contact_id).where(
        Nudge.workspace_id == workspace_id, Nudge.cause == "hot_lead"
    )
    candidates = await session.exec(
        select(Contact).where(
            Contact.workspace_id == workspace_id,
            Contact.score_band == "hot",
            col(Contact.last_touch_at) >= now - timedelta(days=active_days),
            col(Contact.id).not_in(told),
        )
    )
    queued = []
    for contact in candidates.all():
        scored = await rescore_contact(session=session, scorer=scorer, contact=contact, at=now)
        if scored.score.band != "hot":
            continue
        nudge = await _write_lead_nudge(
            session,
            contact,
            scored,
            "a review of current leads",
            f"sweep:{now.date()}",
            config,
            None,
        )
        if nudge is not None:
            queued.append(nudge)
    return queued


async def _write_lead_nudge(
    session: AsyncSession,
    contact: Contact,
    scored: Scored,
    trigger: str,
    event_key: str,
    config: CrmConfig,
    parent: Nudge | None,
) -> Nudge | None:
    target = await destination(session=session, contact=contact, config=config)
    if target is None:
        return None
    score = scored.score
    nudge = Nudge(
        workspace_id=contact.workspace_id,
        cause="hot_lead",
        dedupe_key=f"hot_lead:{contact.id}:{event_key}",
        contact_id=contact.id,
        recipient_id=target[1],
        parent_id=parent.id if parent is not None else None,
        channel=target[0],
        score=score.value,
        model_version=score.model_version,
        payload={
            "lead": await lead_card(session=session, contact=contact),
            "score": score.value,
            "previous": scored.previous,
            "band": score.band,
            "low_confidence": score.low_confidence,
            "model_version": score.model_version,
            "reasons_for": [r.text for r in score.reasons.supporting],
            "reasons_against": [r.text for r in score.reasons.opposing],
            "action": list(score.action) if score.action else None,
            "trigger": trigger,
            "snapshot_id": scored.snapshot_id,
        },
    )
    session.add(nudge)
    await session.flush()
    return nudge


def facts_key(facts: object) -> str:
    """A short stable digest of the facts a nudge is about: a new key means something changed.

    >>> facts_key({"b": 1, "a": [2]}) == facts_key({"a": [2], "b": 1})
    True
    """
    encoded = json.dumps(facts, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class NudgeDraft:
    """A nudge of ``cause`` about ``subject`` (e.g. ``deal:12``) in the state ``facts``."""

    cause: str
    subject: str
    facts: object
    target: tuple[str, int | None]
    payload: dict[str, Any]
    contact_id: int | None = None
    deal_id: int | None = None

    @property
    def prefix(self) -> str:
        """What every nudge's key about this subject and cause starts with."""
        return f"{self.cause}:{self.subject}:"

    @property
    def dedupe_key(self) -> str:
        """One key per subject, cause and state of the facts."""
        return self.prefix + facts_key(self.facts)

    def nudge(self, workspace_id: int, parent_id: int | None) -> Nudge:
        """The outbox row for this draft."""
        return Nudge(
            workspace_id=workspace_id,
            cause=self.cause,
            dedupe_key=self.dedupe_key,
            contact_id=self.contact_id,
            deal_id=self.deal_id,
            recipient_id=self.target[1],
            parent_id=parent_id,
            channel=self.target[0],
            payload=self.payload,
        )


async def queue_nudge(
    *,
    session: AsyncSession,
    workspace_id: int,
    cause: str,
    subject: str,
    facts: object,
    target: tuple[str, int | None],
    payload: dict[str, Any],
    contact_id: int | None = None,
    deal_id: int | None = None,
    now: datetime | None = None,
) -> Nudge | None:
    """Queue a nudge of ``cause`` about ``subject`` (e.g. ``deal:12``) once per state of ``facts``.

    The same facts again queue nothing (one nudge per subject per cause until something
    changes); new facts about a subject already nudged are threaded under its first message.
    Returns the new nudge, or None when it was already told. ``target`` comes from
    :func:`owner_destination`. A nudge held back by a snooze that has ended is queued
    again when the same facts are still true (the rep asked to be reminded later).
    """
    draft = NudgeDraft(cause, subject, facts, target, payload, contact_id, deal_id)
    told = (
        await session.exec(
            select(Nudge).where(
                Nudge.workspace_id == workspace_id, Nudge.dedupe_key == draft.dedupe_key
            )
        )
    ).first()
    if told is not None:
        return await _revive_after_snooze(session, told, now or utcnow())
    first = (
        await session.exec(
            select(Nudge)
            .where(
                Nudge.workspace_id == workspace_id,
                col(Nudge.dedupe_key).startswith(draft.prefix, autoescape=True),
                col(Nudge.parent_id).is_(None),
                col(Nudge.state).in_(LIVE_STATES),
            )
            .order_by(col(Nudge.id))
            .limit(1)
        )
    ).first()
    nudge = draft.nudge(workspace_id, first.id if first is not None else None)
    session.add(nudge)
    await session.flush()
    return nudge


async def queue_first_nudges(
    *, session: AsyncSession, workspace_id: int, drafts: Sequence[NudgeDraft]
) -> list[Nudge]:
    """Queue nudges about subjects new to the outbox (a merge proposal just opened), in a
    few statements: nothing earlier to thread under, only a retry's rows to skip."""
    keys = [draft.dedupe_key for draft in drafts]
    query = select(Nudge.dedupe_key).where(
        Nudge.workspace_id == workspace_id, col(Nudge.dedupe_key).in_(keys)
    )
    told = set((await session.exec(query)).all()) if keys else set()
    nudges = [
        d.nudge(workspace_id, None) for d, key in zip(drafts, keys, strict=True) if key not in told
    ]
    session.add_all(nudges)
    await session.flush()
    return nudges


async def _revive_after_snooze(session: AsyncSession, told: Nudge, now: datetime) -> Nudge | None:
    if told.state != "snoozed":
        return None
    subjects = subjects_of(told)
    if await snoozed_until(
        session=session, workspace_id=told.workspace_id, subjects=subjects, now=now
    ):
        return None
    told.state, told.next_attempt_at = "pending", None
    session.add(told)
    await session.flush()
    return told


async def queue_reply(
    *, session: AsyncSession, parent: Nudge, cause: str, dedupe_key: str, payload: dict[str, Any]
) -> Nudge:
    """A message threaded under an earlier nudge (feedback confirmations, updates)."""
    existing = (
        await session.exec(
            select(Nudge).where(
                Nudge.workspace_id == parent.workspace_id, Nudge.dedupe_key == dedupe_key
            )
        )
    ).first()
    if existing is not None:
        return existing
    reply = Nudge(
        workspace_id=parent.workspace_id,
        cause=cause,
        dedupe_key=dedupe_key,
        contact_id=parent.contact_id,
        recipient_id=parent.recipient_id,
        parent_id=parent.id,
        channel=parent.channel,
        payload=payload,
    )
    session.add(reply)
    await session.flush()
    return reply


async def nudge_by_message(
    *, session: AsyncSession, channel_id: str, message_ts: str
) -> Nudge | None:
    """The nudge Slack knows as this message."""
    query = select(Nudge).where(Nudge.channel_id == channel_id, Nudge.message_ts == message_ts)
    return (await session.exec(query)).first()


def mark_sent(nudge: Nudge, *, channel_id: str, ts: str, now: datetime) -> None:
    """Remember where the message went, for threads, feedback and later edits."""
    nudge.state, nudge.channel_id, nudge.message_ts = "sent", channel_id, ts
    nudge.sent_at, nudge.last_error, nudge.claimed_until = now, None, None
