"""The transactions Nudge runs for each input: capture, feedback. One unit of work each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.lease import learning_turn, refresh_model
from bot.runtime import Runtime
from models.contact import Contact
from models.db import unit_of_work
from models.services.capture import quarantine, record_activities, record_skipped
from models.services.dedupe import dedupe
from models.services.events import first_delivery
from models.services.feedback import (
    ButtonIn,
    FeedbackResult,
    ReactionIn,
    feedback_from_button,
    feedback_from_reaction,
    record_feedback,
)
from models.services.hygiene import paired_contacts
from models.services.inputs import ActivityIn, CaptureInput, QuarantineIn, SkippedIn
from models.services.nudges import sweep_hot_leads
from models.services.scoring import rescore_ids

log = structlog.get_logger(__name__)


async def capture_all_in(
    session: AsyncSession, runtime: Runtime, items: Sequence[CaptureInput]
) -> Counter[str]:
    """Store inputs in the caller's transaction: activities set-based, the rest one by one.

    Counts what happened: 'stored', 'duplicate', 'skipped', 'quarantined'.
    """
    await refresh_model(session, runtime)
    outcomes: Counter[str] = Counter()
    activities: list[ActivityIn] = []
    for item in items:
        if isinstance(item, QuarantineIn):
            await quarantine(session=session, workspace_id=runtime.workspace_id, item=item)
            outcomes["quarantined"] += 1
        elif isinstance(item, SkippedIn):
            await record_skipped(session=session, workspace_id=runtime.workspace_id, item=item)
            outcomes["skipped"] += 1
        else:
            activities.append(item)
    result = await record_activities(
        session=session,
        scorer=runtime.scorer,
        workspace_id=runtime.workspace_id,
        items=activities,
        config=runtime.config.crm,
        now=runtime.clock(),
    )
    outcomes.update(result.outcomes)
    return outcomes


async def capture_in(session: AsyncSession, runtime: Runtime, item: CaptureInput) -> str:
    """Store one input in the caller's transaction; says what happened to it."""
    (outcome,) = (await capture_all_in(session, runtime, [item])).elements()
    return outcome


async def capture(runtime: Runtime, item: CaptureInput) -> str:
    """Store one input in its own transaction (see :func:`capture_in`)."""
    async with unit_of_work(runtime.sessions) as session:
        return await capture_in(session, runtime, item)


async def rescore_merged(
    session: AsyncSession, runtime: Runtime, contact_ids: Collection[int]
) -> None:
    """Rescore contacts whose timelines a merge (or its undo) just changed."""
    await refresh_model(session, runtime)
    await rescore_ids(
        session=session, scorer=runtime.scorer, contact_ids=contact_ids, now=runtime.clock()
    )


async def deduplicate(
    session: AsyncSession, runtime: Runtime, contact: Contact, new: Sequence[Contact]
) -> tuple[Contact, set[int]]:
    """Merge new contacts into strong duplicates and propose weak ones, as capture does, and
    rescore the survivors; returns the contact ``contact`` lives on as, and the contacts
    paired with the new ones (their hygiene is the caller's to check)."""
    found = await dedupe(
        session=session, workspace_id=runtime.workspace_id, config=runtime.config.crm, new=new
    )
    if found.merges:
        await rescore_merged(session, runtime, {m.survivor_id for m in found.merges})
    while contact.merged_into_id is not None:
        survivor = await session.get(Contact, contact.merged_into_id)
        assert survivor is not None
        contact = survivor
    return contact, paired_contacts(found.proposals, found.merges)


async def sweep(runtime: Runtime) -> int:
    """Queue nudges for hot leads nobody has been told about; returns how many."""
    async with unit_of_work(runtime.sessions) as session:
        await refresh_model(session, runtime)
        queued = await sweep_hot_leads(
            session=session,
            scorer=runtime.scorer,
            workspace_id=runtime.workspace_id,
            config=runtime.config.crm,
            now=runtime.clock(),
        )
    return len(queued)


async def apply_feedback(
    runtime: Runtime, signal: ReactionIn | ButtonIn, *, event_id: str | None = None
) -> FeedbackResult | None:
    """Learn from one verdict, once per Slack event; the live model changes after commit."""
    crm = runtime.config.crm
    async with learning_turn(runtime) as turn:
        session, pending = turn.session, turn.pending
        if event_id is not None and not await first_delivery(
            session=session, event_id=event_id, event_type="feedback"
        ):
            return None
        if isinstance(signal, ReactionIn):
            item = await feedback_from_reaction(session=session, reaction=signal, config=crm)
        else:
            item = await feedback_from_button(session=session, button=signal, config=crm)
        if item is None:
            return None
        return await record_feedback(
            session=session,
            pending=pending,
            item=item,
            config=crm,
            salt=runtime.salt,
            now=runtime.clock(),
        )
