"""Events out: subscriptions, and deliveries written in the transaction of the change.

A delivery is a row (the outbox pattern); ``bot/deliveries.py`` posts it, signed, and
retries it with capped backoff until the receiver answers 2xx or the attempts run out.

>>> score_moved(previous=50, previous_band="warm", value=52, band="warm", jump=15)
False
>>> score_moved(previous=60, previous_band="warm", value=75, band="hot", jump=15)
True
>>> score_moved(previous=20, previous_band="cold", value=36, band="cold", jump=15)
True
>>> score_moved(previous=None, previous_band=None, value=10, band="cold", jump=15)
True
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.contact import Contact
from models.hygiene import HygieneIssue
from models.integration import WebhookDelivery, WebhookSubscription
from models.services.audit import record_audit
from models.types import utcnow

EVENTS = ("score.changed", "hygiene.issue_opened", "hygiene.issue_closed")
MAX_ATTEMPTS = 20
LEASE = timedelta(seconds=60)
SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker, not a secret


def score_moved(
    *, previous: int | None, previous_band: str | None, value: int, band: str, jump: int
) -> bool:
    """Whether a new score is worth an event: a first score, a new band, or a jump."""
    if previous is None:
        return True
    return band != previous_band or abs(value - previous) >= jump


async def emit_event(
    session: AsyncSession, workspace_id: int, type: str, data: dict[str, Any]
) -> int:
    """Queue one event for every live subscription that wants it; returns how many.

    Call it inside the transaction of the change, so the event goes out if and only if
    the change is committed. ``data`` must hold ids and numbers, not personal details.
    """
    return await emit_events(session, workspace_id, type, [data])


async def emit_events(
    session: AsyncSession, workspace_id: int, type: str, items: Sequence[dict[str, Any]]
) -> int:
    """Queue several events of one type (one query for the subscriptions)."""
    if type not in EVENTS:
        raise ValueError(f"unknown event type {type!r}")
    if not items:
        return 0
    query = select(WebhookSubscription).where(
        WebhookSubscription.workspace_id == workspace_id,
        col(WebhookSubscription.disabled_at).is_(None),
    )
    wanted = [s for s in (await session.exec(query)).all() if type in s.events]
    now = utcnow()
    for data in items:
        event = {"id": uuid.uuid4().hex, "type": type, "created_at": now.isoformat(), "data": data}
        for subscription in wanted:
            assert subscription.id is not None
            session.add(
                WebhookDelivery(
                    workspace_id=workspace_id,
                    subscription_id=subscription.id,
                    delivery_id=uuid.uuid4().hex,
                    event=type,
                    payload=event,
                    next_attempt_at=now,
                )
            )
    if wanted:
        await session.flush()
    return len(wanted) * len(items)


async def emit_score_changes(
    session: AsyncSession, contacts: Sequence[tuple[Contact, int | None, str | None]]
) -> int:
    """``score.changed`` for contacts just rescored, each with its previous score and band."""
    by_workspace: dict[int, list[dict[str, Any]]] = {}
    for contact, previous, previous_band in contacts:
        by_workspace.setdefault(contact.workspace_id, []).append(
            {
                "contact_id": contact.id,
                "account_id": contact.account_id,
                "owner_id": contact.owner_id,
                "score": contact.score,
                "band": contact.score_band,
                "previous_score": previous,
                "previous_band": previous_band,
                "scored_at": contact.scored_at.isoformat() if contact.scored_at else None,
            }
        )
    total = 0
    for workspace_id, items in by_workspace.items():
        total += await emit_events(session, workspace_id, "score.changed", items)
    return total


async def emit_issue_events(
    session: AsyncSession, issues: Sequence[HygieneIssue], *, opened: bool
) -> int:
    """``hygiene.issue_opened`` (or ``_closed``) for issues just opened or closed.

    The issue's message is left out: it may name the person.
    """
    type = "hygiene.issue_opened" if opened else "hygiene.issue_closed"
    by_workspace: dict[int, list[dict[str, Any]]] = {}
    for issue in issues:
        by_workspace.setdefault(issue.workspace_id, []).append(
            {
                "issue_id": issue.id,
                "rule": issue.rule,
                "entity_type": issue.entity_type,
                "entity_id": issue.entity_id,
                "owner_id": issue.owner_id,
                "opened_at": issue.opened_at.isoformat(),
                "closed_at": issue.closed_at.isoformat() if issue.closed_at else None,
            }
        )
    total = 0
    for workspace_id, items in by_workspace.items():
        total += await emit_events(session, workspace_id, type, items)
    return total


async def create_subscription(
    *, session: AsyncSession, workspace_id: int, url: str, events: Sequence[str], actor: str
) -> WebhookSubscription:
    """A new subscription with a fresh signing secret (returned on it, shown once)."""
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise ValueError(f"unknown events {unknown}; known events: {', '.join(EVENTS)}")
    subscription = WebhookSubscription(
        workspace_id=workspace_id,
        url=url,
        secret=SECRET_PREFIX + secrets.token_urlsafe(32),
        events=sorted(set(events)),
        created_by=actor,
    )
    session.add(subscription)
    await session.flush()
    await record_audit(
        session=session, workspace_id=workspace_id, actor=actor, action="webhook.subscribed",
        target_type="webhook_subscription", target_id=subscription.id,
        after={"url": url, "events": subscription.events},
    )  # fmt: skip
    return subscription


async def list_subscriptions(
    *, session: AsyncSession, workspace_id: int
) -> list[WebhookSubscription]:
    """The workspace's subscriptions, disabled ones included, oldest first."""
    query = (
        select(WebhookSubscription)
        .where(WebhookSubscription.workspace_id == workspace_id)
        .order_by(col(WebhookSubscription.id))
    )
    return list((await session.exec(query)).all())


async def disable_subscription(
    *, session: AsyncSession, workspace_id: int, subscription_id: int, actor: str
) -> WebhookSubscription | None:
    """Stop a subscription and drop its undelivered events; None if there is no such one."""
    subscription = await session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.workspace_id != workspace_id:
        return None
    if subscription.disabled_at is None:
        subscription.disabled_at = utcnow()
        session.add(subscription)
        await session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.subscription_id) == subscription_id,
                col(WebhookDelivery.state) == "pending",
            )
            .values(state="cancelled")
        )
        await record_audit(
            session=session, workspace_id=workspace_id, actor=actor,
            action="webhook.unsubscribed", target_type="webhook_subscription",
            target_id=subscription_id,
        )  # fmt: skip
    return subscription


async def due_deliveries(*, session: AsyncSession, now: datetime, limit: int = 50) -> list[int]:
    """Ids of pending deliveries whose time has come, oldest first."""
    query = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.state == "pending",
            or_(
                col(WebhookDelivery.next_attempt_at).is_(None),
                col(WebhookDelivery.next_attempt_at) <= now,
            ),
        )
        .order_by(col(WebhookDelivery.id))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def claim_delivery(
    *, session: AsyncSession, delivery_id: int, now: datetime
) -> tuple[WebhookDelivery, WebhookSubscription] | None:
    """Take a due delivery for one attempt (a lease, so a crash mid-post retries it later).

    The conditional update lets exactly one worker win it; None if another did.
    """
    claimed = await session.exec(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.state) == "pending",
            or_(
                col(WebhookDelivery.next_attempt_at).is_(None),
                col(WebhookDelivery.next_attempt_at) <= now,
            ),
        )
        .values(next_attempt_at=now + LEASE, attempts=col(WebhookDelivery.attempts) + 1)
    )
    if claimed.rowcount != 1:
        return None
    delivery = await session.get(WebhookDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    subscription = await session.get(WebhookSubscription, delivery.subscription_id)
    assert subscription is not None
    return delivery, subscription


async def finish_delivery(
    *,
    session: AsyncSession,
    delivery_id: int,
    now: datetime,
    error: str | None,
    retry_in: float,
) -> WebhookDelivery | None:
    """Record an attempt: delivered, or retried after ``retry_in`` seconds, or given up."""
    delivery = await session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if delivery is None or delivery.state != "pending":
        return delivery
    if error is None:
        delivery.state, delivery.delivered_at, delivery.last_error = "delivered", now, None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.state, delivery.last_error = "failed", error[:300]
    else:
        delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        delivery.last_error = error[:300]
    session.add(delivery)
    await session.flush()
    return delivery
