"""Answers to ``/lead``, ``/deal``, ``/pipeline``, the open buttons and the Previous / Next
buttons of the pipeline and of a timeline, as the asker may see them.

Each function runs one unit of work: who is asking (:func:`viewer_for`), the look-up, and an
audit row for every profile or deal shown (SPEC C5.2), then renders the private answer. A
page other than the first is checked exactly as the first: the same roles, the same reach.
"""

from __future__ import annotations

import re

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from handlers.blocks import Page, escape_mrkdwn, mention, page_count
from handlers.blocks_profile import (
    PAGE_SIZE,
    Answer,
    render_contact_choices,
    render_deal,
    render_deal_choices,
    render_notice,
    render_pipeline,
    render_profile,
    render_timeline_page,
)
from models.db import unit_of_work
from models.services.access import (
    AccessDeniedError,
    Viewer,
    viewer_for,
    workspace_users,
)
from models.services.audit import record_audit
from models.services.pipeline import find_deals, load_deal, open_deals, pipeline
from models.services.profile import (
    find_contacts,
    load_profile,
    timeline,
    timeline_size,
    visible_contact,
)
from models.services.profile_parts import deal_summaries

CHOICES = 8
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
OUT_OF_REACH = "Records owned by other reps are visible only to them, their managers and admins."
HIDDEN_LEAD = f"You can't see this lead. {OUT_OF_REACH}"
GONE_LEAD = "That lead is no longer in Nudge (it may have been erased)."


async def _viewer(session: AsyncSession, runtime: Runtime, slack_user_id: str) -> Viewer:
    return await viewer_for(
        session=session, workspace_id=runtime.workspace_id, slack_user_id=slack_user_id
    )


async def _audit_shown(
    session: AsyncSession,
    runtime: Runtime,
    slack_user_id: str,
    action: str,
    target_type: str,
    target_id: int,
) -> None:
    """The audit row for a profile or deal shown to someone (SPEC C5.2)."""
    await record_audit(
        session=session,
        workspace_id=runtime.workspace_id,
        actor=f"slack:{slack_user_id}",
        action=action,
        target_type=target_type,
        target_id=target_id,
    )


async def _audit_listed(
    session: AsyncSession, runtime: Runtime, slack_user_id: str, action: str, ids: list[int]
) -> None:
    """The audit row for a list of records shown to someone: which ones, by id (SPEC C5.2)."""
    await record_audit(
        session=session, workspace_id=runtime.workspace_id, actor=f"slack:{slack_user_id}",
        action=action, target_type="list", after={"ids": ids},
    )  # fmt: skip


def _not_found(what: str, query: str, searched: str, hint: str, viewer: Viewer) -> Answer:
    text = (
        f"No {what} you can see matches “{escape_mrkdwn(query)}”. I searched {searched}.\n"
        f"Try {hint}."
    )
    return render_notice(text if viewer.is_admin else f"{text}\n{OUT_OF_REACH}")


async def profile_answer(runtime: Runtime, slack_user_id: str, contact_id: int) -> Answer:
    """One contact's profile card, or why it cannot be shown."""
    async with unit_of_work(runtime.sessions) as session:
        viewer = await _viewer(session, runtime, slack_user_id)
        try:
            profile = await load_profile(
                session=session,
                workspace_id=runtime.workspace_id,
                contact_id=contact_id,
                viewer=viewer,
                scoring=runtime.config.crm.scoring,
            )
        except AccessDeniedError:
            return render_notice(HIDDEN_LEAD)
        if profile is None:
            return render_notice(GONE_LEAD)
        await _audit_shown(
            session, runtime, slack_user_id, "profile.viewed", "contact", profile.contact_id
        )
    return render_profile(profile)


async def lead_answer(runtime: Runtime, slack_user_id: str, query: str) -> Answer:
    """``/lead <name|email|company>``: the profile, a choice among matches, or a hint."""
    query = query.strip()
    if not query:
        return render_notice("Usage: `/lead <name | email | company>`, e.g. `/lead dana@acme.com`.")
    async with unit_of_work(runtime.sessions) as session:
        viewer = await _viewer(session, runtime, slack_user_id)
        matches = await find_contacts(
            session=session,
            workspace_id=runtime.workspace_id,
            query=query,
            viewer=viewer,
            limit=CHOICES + 1,
        )
        wanted = query.casefold()
        exact = [m for m in matches if wanted in (m.name.casefold(), (m.email or "").casefold())]
        if len(exact) == 1:
            matches = exact
        if len(matches) > 1:
            listed = [m.contact_id for m in matches[:CHOICES]]
            await _audit_listed(session, runtime, slack_user_id, "contacts.listed", listed)
    if not matches:
        return _not_found(
            "lead", query, "names, email addresses and companies",
            "part of a surname, an email domain such as `@acme.com`, or a company name", viewer,
        )  # fmt: skip
    if len(matches) == 1:
        return await profile_answer(runtime, slack_user_id, matches[0].contact_id)
    return render_contact_choices(query, matches[:CHOICES], more=len(matches) > CHOICES)


async def deal_view_answer(runtime: Runtime, slack_user_id: str, deal_id: int) -> Answer:
    """One deal's card, or why it cannot be shown."""
    async with unit_of_work(runtime.sessions) as session:
        viewer = await _viewer(session, runtime, slack_user_id)
        try:
            view = await load_deal(
                session=session, workspace_id=runtime.workspace_id, deal_id=deal_id, viewer=viewer
            )
        except AccessDeniedError:
            return render_notice(f"You can't see this deal. {OUT_OF_REACH}")
        if view is None:
            return render_notice("That deal is no longer in Nudge.")
        await _audit_shown(
            session, runtime, slack_user_id, "deal.viewed", "deal", view.deal.deal_id
        )
    return render_deal(view)


async def deal_answer(runtime: Runtime, slack_user_id: str, query: str) -> Answer:
    """``/deal <name>``: the deal card, a choice among matches, or a hint."""
    query = query.strip()
    if not query:
        return render_notice("Usage: `/deal <deal or company name>`, e.g. `/deal Acme renewal`.")
    async with unit_of_work(runtime.sessions) as session:
        viewer = await _viewer(session, runtime, slack_user_id)
        deals = await find_deals(
            session=session,
            workspace_id=runtime.workspace_id,
            query=query,
            viewer=viewer,
            limit=CHOICES + 1,
        )
        exact = [d for d in deals if d.name.casefold() == query.casefold()]
        if len(exact) == 1:
            deals = exact
        if len(deals) > 1:
            listed = [d.deal_id for d in deals[:CHOICES]]
            await _audit_listed(session, runtime, slack_user_id, "deals.listed", listed)
    if not deals:
        return _not_found(
            "deal", query, "deal names and company names", "a word of the deal's name", viewer
        )
    if len(deals) == 1:
        return await deal_view_answer(runtime, slack_user_id, deals[0].deal_id)
    return render_deal_choices(query, deals[:CHOICES], more=len(deals) > CHOICES)


async def timeline_answer(runtime: Runtime, slack_user_id: str, key: str, page: int) -> Answer:
    """Page ``page`` of the timeline of contact ``key`` (the last one if there are fewer pages
    now); the first page is the profile card."""
    if not key.isdigit():
        return render_notice("That button points nowhere: try `/lead`.")
    async with unit_of_work(runtime.sessions) as session:
        viewer = await _viewer(session, runtime, slack_user_id)
        try:
            contact = await visible_contact(
                session=session, workspace_id=runtime.workspace_id, contact_id=int(key),
                viewer=viewer,
            )  # fmt: skip
        except AccessDeniedError:
            return render_notice(HIDDEN_LEAD)
        if contact is None or contact.id is None:
            return render_notice(GONE_LEAD)
        total = await timeline_size(session, contact.id)
        page, items = min(page, page_count(total, PAGE_SIZE)), []
        if page > 1:
            items = await timeline(
                session, contact.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
            )
            await _audit_shown(
                session, runtime, slack_user_id, "profile.viewed", "contact", contact.id
            )
    if page == 1:
        return await profile_answer(runtime, slack_user_id, contact.id)
    return render_timeline_page(contact.name, items, total, Page("timeline", str(contact.id), page))


async def pipeline_answer(runtime: Runtime, slack_user_id: str, text: str, page: int = 1) -> Answer:
    """``/pipeline [@rep]``: a rep sees theirs, a manager their team's, an admin anyone's;
    page ``page`` of the deals (the last one if there are fewer pages now)."""
    text = text.strip()
    named = _MENTION.fullmatch(text)
    if text and named is None:
        return render_notice("Usage: `/pipeline` for yours, or `/pipeline @teammate`.")
    async with unit_of_work(runtime.sessions) as session:
        viewer = await _viewer(session, runtime, slack_user_id)
        if not viewer.is_member:
            return render_notice("You're not on the Nudge team yet: ask an admin to add you.")
        owners: frozenset[int] | None = None
        title = {"rep": "Your pipeline", "manager": "Your team's pipeline"}.get(
            viewer.role, "Everyone's pipeline"
        )
        if named is not None:
            who = mention(named.group(1))
            users = await workspace_users(session=session, workspace_id=runtime.workspace_id)
            target = next((u for u in users if u.slack_user_id == named.group(1)), None)
            if target is None or target.id is None:
                return render_notice(f"{who} isn't on the Nudge team.")
            owners, title = frozenset({target.id}), f"{who}'s pipeline"
        elif not viewer.is_admin:
            owners = viewer.visible_owner_ids
        try:
            summary = await pipeline(
                session=session, workspace_id=runtime.workspace_id, viewer=viewer, owner_ids=owners
            )
        except AccessDeniedError:
            reach = "your team's" if viewer.is_manager else "your own"
            return render_notice(f"You may see {reach} pipeline only, not {title}.")
        page = min(page, page_count(summary.count, PAGE_SIZE))
        deals = await open_deals(
            session=session, workspace_id=runtime.workspace_id, viewer=viewer, owner_ids=owners
        )
        start = (page - 1) * PAGE_SIZE
        shown = await deal_summaries(session, deals[start : start + PAGE_SIZE])
        listed = [deal.id for deal in deals[start : start + PAGE_SIZE] if deal.id is not None]
        await _audit_listed(session, runtime, slack_user_id, "pipeline.viewed", listed)
    key = f"<@{named.group(1)}>" if named is not None else ""
    return render_pipeline(summary, title, shown, Page("pipeline", key, page))
