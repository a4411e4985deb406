"""Block Kit for look-ups: the profile card, the deal card, choices among matches, the pipeline.

Every name, subject and message comes from outside and is escaped; short lists are cut to
fit a section with an "and N more" line, while the pipeline and a profile's timeline are
shown a page at a time with Previous / Next buttons. Every answer ends with the automated
disclosure.

>>> fit_lines(["a", "b", "c"], total=5, limit=2)
'• a\\n• b\\n_…and 3 more_'
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.blocks import (
    BAND_ICON,
    MAX_BLOCKS,
    MAX_SECTION,
    OPEN_PROFILE,
    Block,
    Page,
    automated_context,
    escape_mrkdwn,
    line_sections,
    mention,
    page_buttons,
    page_count,
    section,
)
from models.services.pipeline import Pipeline
from models.services.profile_types import (
    ContactMatch,
    DealSummary,
    DealView,
    IssueView,
    Person,
    Profile,
    ScoreView,
    TimelineItem,
)

OPEN_DEAL = "open_deal"
LIST_LIMIT = 10
PAGE_SIZE = 10
Answer = tuple[str, list[Block]]


def fit_lines(lines: Sequence[str], *, total: int | None = None, limit: int = LIST_LIMIT) -> str:
    """Bullets (already escaped) within ``limit`` items and a section's size, then "…and N more"."""
    total = len(lines) if total is None else total
    room = MAX_SECTION - 40
    kept: list[str] = []
    for line in lines[:limit]:
        bullet = f"• {line}"
        if sum(len(k) + 1 for k in kept) + len(bullet) > room:
            break
        kept.append(bullet)
    if total > len(kept):
        kept.append(f"_…and {total - len(kept)} more_")
    return "\n".join(kept)


def owner_text(owner: Person | None) -> str:
    """Who owns a record, as a mention when Slack knows them."""
    if owner is None:
        return "shared (no owner)"
    if owner.slack_user_id:
        return mention(owner.slack_user_id)
    return escape_mrkdwn(owner.name or "a teammate")


def amount_text(amount: float | None) -> str:
    """An amount without pretending to know the currency."""
    return "no amount" if amount is None else f"{amount:,.0f}"


def match_text(match: ContactMatch) -> str:
    """One line telling a contact apart from others of the same name."""
    details = [escape_mrkdwn(v) for v in (match.title, match.company, match.email) if v]
    score = f" · {BAND_ICON.get(match.band or '', '')} {match.score}" if match.score else ""
    return (
        f"*{escape_mrkdwn(match.name or 'Unnamed')}*"
        + (f" — {', '.join(details)}" if details else "")
        + score
    )


def deal_line(deal: DealSummary) -> str:
    """A deal in one line: name, company, stage, amount, close date, outcome."""
    parts = [escape_mrkdwn(deal.stage), amount_text(deal.amount)]
    if deal.close_date:
        parts.append(f"closes {deal.close_date.isoformat()}")
    if deal.outcome != "open":
        parts.append(deal.outcome)
    company = f" ({escape_mrkdwn(deal.company)})" if deal.company else ""
    return f"*{escape_mrkdwn(deal.name)}*{company} — {' · '.join(parts)}"


def issue_line(issue: IssueView) -> str:
    """An open data problem and since when."""
    return f"{escape_mrkdwn(issue.message)} _(since {issue.opened_at.date().isoformat()})_"


def _score_blocks(score: ScoreView | None) -> list[Block]:
    if score is None:
        return [section("*Score* not scored yet")]
    confidence = " · low confidence: still learning" if score.low_confidence else ""
    text = (
        f"*Score* {BAND_ICON.get(score.band, '')} *{score.value}*/100 ({score.band})"
        f" · model v{score.model_version}{confidence}"
    )
    blocks = [section(text)]
    if score.reasons_for:
        blocks.append(
            section("*Why:*\n" + fit_lines([escape_mrkdwn(r) for r in score.reasons_for]))
        )
    if score.reasons_against:
        against = fit_lines([escape_mrkdwn(r) for r in score.reasons_against])
        blocks.append(section("*Holding it back:*\n" + against))
    return blocks


def render_profile(profile: Profile) -> Answer:
    """The ``/lead`` card: identity, company, owner, score with reasons, deals, timeline, issues."""
    name = escape_mrkdwn(profile.name or "Unnamed contact")
    company = profile.company
    headline = f"*{name}*" + (f" — {escape_mrkdwn(profile.title)}" if profile.title else "")
    if company is not None:
        facts = [v for v in (company.industry, f"{company.employees} people" if company.employees
                             else None, company.domain) if v]  # fmt: skip
        headline += f"\n🏢 {escape_mrkdwn(company.name)}" + (
            f" ({escape_mrkdwn(', '.join(facts))})" if facts else ""
        )
    reach = [escape_mrkdwn(v) for v in (*profile.emails, *profile.phones)]
    headline += f"\n✉️ {' · '.join(reach) or 'no email or phone known'}"
    headline += f"\n👤 Owner: {owner_text(profile.owner)}"
    blocks = [section(headline), *_score_blocks(profile.score)]
    if profile.deals:
        blocks.append(section("*Deals*\n" + fit_lines([deal_line(d) for d in profile.deals])))
    page = Page("timeline", str(profile.contact_id))
    blocks += timeline_blocks(profile.timeline[:PAGE_SIZE], profile.timeline_total, page)
    if profile.issues:
        blocks.append(
            section("*Open data issues*\n" + fit_lines([issue_line(i) for i in profile.issues]))
        )
    blocks.append(automated_context("profile built from mail, calendar, calls and web"))
    return f"{name}: profile", blocks[:MAX_BLOCKS]


def _timeline_line(item: TimelineItem) -> str:
    return (
        f"{item.occurred_at.strftime('%Y-%m-%d')} · {escape_mrkdwn(item.kind)}"
        + (f" ({escape_mrkdwn(item.direction)})" if item.direction else "")
        + f" · {escape_mrkdwn(item.summary)} _via {escape_mrkdwn(item.source)}_"
    )


def _span(page: Page, shown: int, total: int) -> str:
    """Which items of the list a page holds: ``11–20 of 37``."""
    first = (page.number - 1) * PAGE_SIZE + 1
    return f"{first}–{first + shown - 1} of {total}"


def timeline_blocks(items: Sequence[TimelineItem], total: int, page: Page) -> list[Block]:
    """One page of a timeline (newest first) and the buttons to the others."""
    if not items:
        return [section("*Timeline* (newest first)\nno activity yet")]
    pages = page_count(total, PAGE_SIZE)
    span = f", {_span(page, len(items), total)}" if pages > 1 else ""
    title = f"*Timeline* (newest first{span})"
    return [*line_sections(title, [_timeline_line(i) for i in items]), *page_buttons(page, pages)]


def render_timeline_page(
    name: str, items: Sequence[TimelineItem], total: int, page: Page
) -> Answer:
    """A later page of a contact's timeline (the first is on the profile card)."""
    who = escape_mrkdwn(name or "Unnamed contact")
    blocks = [section(f"*{who}*"), *timeline_blocks(items, total, page), automated_context()]
    return f"{who}: timeline, page {page.number}", blocks


def _choice(text: str, action_id: str, value: int) -> Block:
    block = section(text)
    block["accessory"] = {
        "type": "button",
        "action_id": action_id,
        "value": str(value),
        "text": {"type": "plain_text", "text": "Open"},
    }
    return block


def render_contact_choices(query: str, matches: Sequence[ContactMatch], more: bool) -> Answer:
    """Several contacts match: one button each; pressing one shows that profile."""
    intro = f"{len(matches)}{'+' if more else ''} leads match “{escape_mrkdwn(query)}”. Pick one:"
    blocks = [
        section(intro),
        *(_choice(match_text(m), OPEN_PROFILE, m.contact_id) for m in matches),
    ]
    hint = "more match: add a surname, company or email to narrow it down" if more else ""
    blocks.append(automated_context(*([hint] if hint else [])))
    return intro, blocks


def render_deal_choices(query: str, deals: Sequence[DealSummary], more: bool) -> Answer:
    """Several deals match: one button each."""
    intro = f"{len(deals)}{'+' if more else ''} deals match “{escape_mrkdwn(query)}”. Pick one:"
    blocks = [section(intro), *(_choice(deal_line(d), OPEN_DEAL, d.deal_id) for d in deals)]
    blocks.append(automated_context(*(["more match: be more specific"] if more else [])))
    return intro, blocks


def render_deal(view: DealView) -> Answer:
    """The ``/deal`` card: the deal, its owner, its people and its open issues."""
    deal = view.deal
    text = f"{deal_line(deal)}\n👤 Owner: {owner_text(deal.owner)}"
    blocks = [section(text)]
    people = [match_text(c) for c in view.contacts]
    blocks.append(section("*People*\n" + (fit_lines(people) or "no contact linked")))
    if view.issues:
        blocks.append(
            section("*Open data issues*\n" + fit_lines([issue_line(i) for i in view.issues]))
        )
    blocks.append(automated_context())
    return f"Deal {escape_mrkdwn(deal.name)}", blocks


def plural(count: int, noun: str) -> str:
    """``1 deal``, ``2 deals``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _stage_overview(pipeline: Pipeline) -> str:
    return "By stage: " + " · ".join(
        f"{escape_mrkdwn(stage.stage)} {stage.count}" for stage in pipeline.stages
    )


def render_pipeline(
    pipeline: Pipeline, title: str, deals: Sequence[DealSummary], page: Page
) -> Answer:
    """``/pipeline``: open deals by stage with counts and amounts, one page of ``deals`` at a time
    (biggest first in each stage), with Previous / Next when there are more.

    ``title`` is already escaped (it may hold a mention).
    """
    summary = f"{plural(pipeline.count, 'open deal')} · {amount_text(pipeline.amount)}"
    pages = page_count(pipeline.count, PAGE_SIZE)
    headline = f"*{title}* — {summary}"
    blocks = [section(headline + (f"\n{_stage_overview(pipeline)}" if pages > 1 else ""))]
    for stage in pipeline.stages:
        shown = [deal_line(d) for d in deals if d.stage == stage.stage]
        totals = f"{plural(stage.count, 'deal')} · {amount_text(stage.amount)}"
        if shown:
            blocks += line_sections(f"*{escape_mrkdwn(stage.stage)}* — {totals}", shown)
    if not pipeline.stages:
        blocks.append(section("No open deals."))
    blocks += page_buttons(page, pages)
    span = [f"deals {_span(page, len(deals), pipeline.count)}"] if pages > 1 else []
    blocks.append(automated_context("open deals only", *span))
    return f"{title}: {summary}", blocks


def render_notice(text: str) -> Answer:
    """A short private answer (text already escaped): no match, a refusal, a usage hint."""
    return text, [section(text), automated_context()]
