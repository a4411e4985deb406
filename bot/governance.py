"""Governance work over a running Nudge: erase, export, retract Slack messages, roll back.

Each change to what the model learned runs as a learning turn (under the workspace's
learner lease), in one transaction with its audit row; the rebuilt model goes live in this
worker when that transaction commits. Other workers reload it when they next follow the
learning log past the rebuild (versions only grow, so they see the gap).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.lease import learning_turn
from bot.runtime import Runtime
from handlers.blocks import automated_context, section
from handlers.calls import TWILIO_CALLS
from learning.rebuild import rebuild_live, rebuild_without, rollback_to
from learning.store import pseudonym
from models.db import unit_of_work
from models.privacy import SlackRetraction
from models.services.audit import prune_audit, record_audit
from models.services.export import export_person
from models.services.purge import Erasure, erase_person
from models.services.retention import prune_raw_items, prune_receipts
from models.types import utcnow

log = structlog.get_logger(__name__)
GONE = frozenset({"message_not_found", "channel_not_found", "thread_not_found"})
RETRACTED_TEXT = "This message was removed: the person it was about asked to be forgotten."
MAX_ATTEMPTS = 8


async def erase(runtime: Runtime, email: str, *, actor: str) -> Erasure:
    """Forget a person everywhere and rebuild the live model without them."""
    async with learning_turn(runtime) as turn:
        session, pending = turn.session, turn.pending
        erasure = await erase_person(
            session=session,
            workspace_id=runtime.workspace_id,
            email=email,
            salt=runtime.salt,
            actor=actor,
        )
        if erasure.first_log_id is not None:
            await rebuild_live(
                session=session,
                workspace_id=runtime.workspace_id,
                changed_from=erasure.first_log_id,
                pending=pending,
            )
    log.info("privacy.erased", contacts=erasure.contacts, slack=erasure.retractions)
    return erasure


async def export(runtime: Runtime, email: str, *, actor: str) -> dict[str, Any]:
    """Everything held about a person (audited)."""
    async with unit_of_work(runtime.sessions) as session:
        return await export_person(
            session=session, workspace_id=runtime.workspace_id, email=email, actor=actor
        )


async def _retract_one(client: AsyncWebClient, row: SlackRetraction) -> None:
    """Delete the message; if Slack will not, overwrite it with a neutral line."""
    try:
        await client.chat_delete(channel=row.channel_id, ts=row.message_ts)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        if error in GONE:
            return
        if error != "cant_delete_message":
            raise
        await client.chat_update(
            channel=row.channel_id,
            ts=row.message_ts,
            text=RETRACTED_TEXT,
            blocks=[section(RETRACTED_TEXT), automated_context()],
        )


async def retract_messages(runtime: Runtime, client: AsyncWebClient) -> int:
    """Delete (or redact) every pending message about forgotten people; returns how many.

    A failure leaves the row pending with its error, for the next run; each call is safe
    to repeat (a message already gone counts as done).
    """
    async with unit_of_work(runtime.sessions) as session:
        query = select(SlackRetraction).where(
            SlackRetraction.workspace_id == runtime.workspace_id,
            SlackRetraction.state == "pending",
            col(SlackRetraction.attempts) < MAX_ATTEMPTS,
        )
        rows = list((await session.exec(query.order_by(col(SlackRetraction.id)))).all())
    done = 0
    for row in rows:
        try:
            await _retract_one(client, row)
        except (SlackApiError, OSError, TimeoutError) as exc:
            row.attempts += 1
            row.last_error = type(exc).__name__
        else:
            row.state, row.done_at, done = "done", utcnow(), done + 1
        async with unit_of_work(runtime.sessions) as session:
            session.add(row)
    return done


async def rollback(runtime: Runtime, version: int, *, actor: str) -> int:
    """Make a saved model version live again (audited); returns the live version."""
    async with learning_turn(runtime) as turn:
        session, pending = turn.session, turn.pending
        before = pending.version
        loaded = await rollback_to(
            session=session, workspace_id=runtime.workspace_id, version=version, pending=pending
        )
        await record_audit(
            session=session, workspace_id=runtime.workspace_id, actor=actor,
            action="model.rolled_back", target_type="model", target_id=runtime.workspace_id,
            before={"version": before}, after={"version": loaded.version},
        )  # fmt: skip
    return loaded.version


async def rebuild_without_user(runtime: Runtime, slack_user_id: str, *, actor: str) -> int:
    """Rebuild the live model without one person's feedback (audited); returns entries left out."""
    async with learning_turn(runtime) as turn:
        session, pending = turn.session, turn.pending
        before = pending.version
        left_out, loaded = await rebuild_without(
            session=session,
            workspace_id=runtime.workspace_id,
            actor_pseudonym=pseudonym(f"slack:{slack_user_id}", salt=runtime.salt),
            pending=pending,
        )
        await record_audit(
            session=session, workspace_id=runtime.workspace_id, actor=actor,
            action="model.rebuilt_without_user", target_type="slack_user",
            target_id=slack_user_id, before={"version": before},
            after={"version": loaded.version, "entries_left_out": left_out},
        )  # fmt: skip
    return left_out


def audit_cutoff(runtime: Runtime) -> timedelta:
    """How long audit rows are kept (``crm.retention_days.audit``)."""
    return timedelta(days=runtime.config.crm.retention_days.get("audit", 2555))


async def prune_past_retention(session: AsyncSession, runtime: Runtime, actor: str) -> int:
    """Drop audit rows older than their retention (the rest stays verifiable), audited."""
    cutoff = runtime.clock() - audit_cutoff(runtime)
    pruned = await prune_audit(session=session, older_than=cutoff)
    if pruned:
        await record_audit(
            session=session, workspace_id=None, actor=actor, action="audit.pruned",
            target_type="audit", after={"rows": pruned, "before": cutoff.isoformat()},
        )  # fmt: skip
    return pruned


RECEIPTS_KEPT = timedelta(days=1)
"""Signatures of signed requests are kept well past every time check (5 minutes either way)."""


async def prune_old_receipts(session: AsyncSession) -> int:
    """Forget signatures no replay could use any more (Twilio's are kept: it signs no time)."""
    return await prune_receipts(
        session=session, older_than=utcnow() - RECEIPTS_KEPT, keep=(TWILIO_CALLS.name,)
    )


async def prune_raw_past_retention(session: AsyncSession, runtime: Runtime, actor: str) -> int:
    """Drop processed raw items older than ``crm.retention_days.raw_items``, audited."""
    days = runtime.config.crm.retention_days.get("raw_items", 365)
    cutoff = runtime.clock() - timedelta(days=days)
    pruned = await prune_raw_items(
        session=session, workspace_id=runtime.workspace_id, older_than=cutoff
    )
    if pruned:
        await record_audit(
            session=session, workspace_id=runtime.workspace_id, actor=actor,
            action="raw_items.pruned", target_type="raw_item",
            after={"rows": pruned, "before": cutoff.isoformat()},
        )  # fmt: skip
    return pruned
