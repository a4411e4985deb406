"""Hygiene checks: open and close :class:`HygieneIssue` rows as records change; never block.

Call :func:`recheck` after any write, from any channel (capture, deal changes, imports,
Slack, the REST API): it checks the contacts and deals named, plus the open deals of those
contacts, in batches of :data:`BATCH`, and queues a **data incomplete** nudge for each issue
that opens (a threaded line when it closes). A second run over unchanged records changes
nothing. :func:`hygiene_scores` gives each rep's records and how many have an open issue.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, distinct
from sqlalchemy import select as sa_select
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.config import CrmConfig
from models.contact import Contact
from models.db import add_unless_taken, query_rows, table_of
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue, MergeProposal, MergeRecord
from models.nudge import Nudge
from models.services.hygiene_rules import (
    Finding,
    describe,
    evaluate_contacts,
    evaluate_deals,
    load_contact_facts,
    load_deal_facts,
)
from models.services.nudges import facts_key, owner_destination, queue_nudge, queue_reply
from models.services.outbound import emit_issue_events

BATCH = 500
CAUSE = "data_incomplete"
_DEAL, _DEAL_CONTACT = table_of(Deal), table_of(DealContact)
# Built once: capture checks the records it touches on every event.
_OPEN_DEALS_OF = (
    sa_select(_DEAL_CONTACT.c.deal_id)
    .join(_DEAL, _DEAL.c.id == _DEAL_CONTACT.c.deal_id)
    .where(_DEAL_CONTACT.c.contact_id.in_(bindparam("ids", expanding=True)))
    .where(_DEAL.c.outcome == "open")
)
_ISSUES_OF = select(HygieneIssue).where(
    HygieneIssue.workspace_id == bindparam("workspace_id"),
    HygieneIssue.entity_type == bindparam("entity_type"),
    col(HygieneIssue.entity_id).in_(bindparam("ids", expanding=True)),
    col(HygieneIssue.closed_at).is_(None) | (col(HygieneIssue.resolution) == "dismissed"),
)


@dataclass(slots=True)
class HygieneResult:
    """What a check changed: issues opened and closed, nudges queued."""

    opened: list[HygieneIssue] = field(default_factory=list)
    closed: list[HygieneIssue] = field(default_factory=list)
    nudges: list[Nudge] = field(default_factory=list)

    def add(self, other: HygieneResult) -> None:
        """Fold another batch's result into this one."""
        self.opened += other.opened
        self.closed += other.closed
        self.nudges += other.nudges


def fingerprint(rule: str, detail: str, facts: dict[str, Any]) -> str:
    """The digest of a problem's facts; a dismissed fingerprint is not raised again."""
    return facts_key({"rule": rule, "detail": detail, "facts": facts})


def _batches(ids: Iterable[int]) -> list[list[int]]:
    unique = sorted(set(ids))
    return [unique[i : i + BATCH] for i in range(0, len(unique), BATCH)]


async def recheck(
    *,
    session: AsyncSession,
    workspace_id: int,
    config: CrmConfig,
    now: datetime,
    actor: str,
    contact_ids: Iterable[int] = (),
    deal_ids: Iterable[int] = (),
    linked_deals: bool = True,
) -> HygieneResult:
    """Check these records after a write, and (``linked_deals``) the open deals of these contacts.

    ``actor`` (``capture``, ``import``, ``slack:U123``, ``api:...``) is kept on issues it
    closes. The REST API calls this after every write.
    """
    contacts = sorted(set(contact_ids))
    deals = set(deal_ids)
    for batch in _batches(contacts) if linked_deals else []:
        deals.update(deal_id for (deal_id,) in await query_rows(session, _OPEN_DEALS_OF, ids=batch))
    result = await check_contacts(
        session=session,
        workspace_id=workspace_id,
        contact_ids=contacts,
        config=config,
        now=now,
        actor=actor,
    )
    result.add(
        await check_deals(
            session=session,
            workspace_id=workspace_id,
            deal_ids=deals,
            config=config,
            now=now,
            actor=actor,
        )
    )
    return result


async def check_contacts(
    *,
    session: AsyncSession,
    workspace_id: int,
    contact_ids: Iterable[int],
    config: CrmConfig,
    now: datetime,
    actor: str,
) -> HygieneResult:
    """Evaluate the contact rules on these contacts (and their duplicate partners)."""
    result = HygieneResult()
    rules = config.hygiene.active()
    for batch in _batches(contact_ids):
        facts = await load_contact_facts(session, workspace_id, batch, now, config.default_region)
        partners = {
            other
            for group in (*facts.proposals.values(), *facts.namesakes.values())
            for other in group
        } - set(batch)
        if partners:
            batch = sorted({*batch, *partners})
            facts = await load_contact_facts(
                session, workspace_id, batch, now, config.default_region
            )
        names = {c.id or 0: c.name for c in facts.contacts}
        result.add(
            await _apply(
                session,
                workspace_id,
                "contact",
                batch,
                evaluate_contacts(rules, facts),
                names,
                config,
                now,
                actor,
            )
        )
    return result


async def check_deals(
    *,
    session: AsyncSession,
    workspace_id: int,
    deal_ids: Iterable[int],
    config: CrmConfig,
    now: datetime,
    actor: str,
) -> HygieneResult:
    """Evaluate the deal rules on these deals (closed deals only close their issues)."""
    result = HygieneResult()
    rules = config.hygiene.active()
    for batch in _batches(deal_ids):
        facts = await load_deal_facts(session, workspace_id, batch, now)
        names = {d.id or 0: d.name for d in facts.deals}
        result.add(
            await _apply(
                session,
                workspace_id,
                "deal",
                batch,
                evaluate_deals(rules, facts),
                names,
                config,
                now,
                actor,
            )
        )
    return result


async def _issues(
    session: AsyncSession, workspace_id: int, entity_type: str, ids: Sequence[int]
) -> tuple[list[HygieneIssue], set[tuple[int, str]]]:
    """Open issues of these records, and (record, fingerprint) of their dismissed ones."""
    params = {"workspace_id": workspace_id, "entity_type": entity_type, "ids": list(ids)}
    rows = await session.exec(_ISSUES_OF, params=params)
    open_issues, dismissed = [], set()
    for issue in rows.all():
        if issue.closed_at is None:
            open_issues.append(issue)
        else:
            dismissed.add((issue.entity_id, issue.fingerprint))
    return open_issues, dismissed


async def _apply(
    session: AsyncSession,
    workspace_id: int,
    entity_type: str,
    ids: Sequence[int],
    findings: list[Finding],
    names: dict[int, str],
    config: CrmConfig,
    now: datetime,
    actor: str,
) -> HygieneResult:
    """Open what is newly wrong, close what is no longer wrong, keep the rest as it is."""
    result = HygieneResult()
    open_issues, dismissed = await _issues(session, workspace_id, entity_type, ids)
    wanted: dict[tuple[int, str, str], Finding] = {}
    for finding in findings:
        digest = fingerprint(finding.rule, finding.detail, finding.facts)
        if (finding.entity_id, digest) not in dismissed:
            wanted[finding.entity_id, finding.rule, finding.detail] = finding
    active = {rule.rule for rule in config.hygiene.active()}
    for issue in open_issues:
        still = wanted.pop((issue.entity_id, issue.rule, issue.detail), None)
        if still is None:
            resolution = "fixed" if issue.rule in active else "rule_off"
            close_issue(issue, resolution=resolution, actor=actor, now=now)
            result.closed.append(issue)
        elif still.facts != issue.facts or still.owner_id != issue.owner_id:
            _refresh(issue, still)
    fresh = []
    for finding in wanted.values():
        issue = HygieneIssue(
            workspace_id=workspace_id,
            entity_type=entity_type,
            entity_id=finding.entity_id,
            rule=finding.rule,
            detail=finding.detail,
            owner_id=finding.owner_id,
            opened_at=now,
            message="",
            facts={},
        )
        _refresh(issue, finding)
        fresh.append(issue)
    await session.flush()
    result.opened = await insert_issues(session, fresh)
    for issue in result.opened:
        nudge = await _announce(session, issue, names.get(issue.entity_id, ""), config)
        if nudge is not None:
            result.nudges.append(nudge)
    result.nudges += await tell_closed(session, result.closed)
    await emit_issue_events(session, result.opened, opened=True)
    await emit_issue_events(session, result.closed, opened=False)
    await session.flush()
    return result


async def insert_issues(session: AsyncSession, issues: list[HygieneIssue]) -> list[HygieneIssue]:
    """Insert new issues; one that another worker opened a moment ago is left to that worker."""
    if await add_unless_taken(session, *issues):
        return issues
    copies = [HygieneIssue.model_validate(issue.model_dump(exclude={"id"})) for issue in issues]
    return [copy for copy in copies if await add_unless_taken(session, copy)]


def _refresh(issue: HygieneIssue, finding: Finding) -> None:
    issue.facts, issue.owner_id = dict(finding.facts), finding.owner_id
    issue.fingerprint = fingerprint(finding.rule, finding.detail, finding.facts)
    issue.message = describe(finding.rule, finding.detail, finding.facts)[:500]


def close_issue(issue: HygieneIssue, *, resolution: str, actor: str, now: datetime) -> None:
    """Close an issue: ``fixed``, ``dismissed`` (its owner says it is fine) or ``rule_off``."""
    issue.closed_at, issue.resolution, issue.closed_by = now, resolution, actor[:64]
    issue.is_open = None


def issue_card(issue: HygieneIssue, record_name: str) -> dict[str, Any]:
    """What a data-incomplete nudge shows about an issue."""
    return {
        "issue_id": issue.id,
        "rule": issue.rule,
        "detail": issue.detail,
        "entity_type": issue.entity_type,
        "entity_id": issue.entity_id,
        "record": record_name,
        "problem": issue.message,
    }


def paired_contacts(proposals: Iterable[MergeProposal], merges: Iterable[MergeRecord]) -> set[int]:
    """The contacts a deduplication run proposed or merged: recheck them afterwards."""
    pairs = [(p.contact_a_id, p.contact_b_id) for p in proposals]
    pairs += [(m.survivor_id, m.merged_id) for m in merges]
    return {contact_id for pair in pairs for contact_id in pair}


async def _announce(
    session: AsyncSession, issue: HygieneIssue, record_name: str, config: CrmConfig
) -> Nudge | None:
    """Queue the owner's data-incomplete nudge (the team channel when nobody owns it).

    A merge proposal has its own nudge asking the owner, so its issue is not announced twice.
    """
    if issue.rule == "duplicate" and issue.facts.get("why") == "merge_proposal":
        return None
    target = await owner_destination(
        session=session, workspace_id=issue.workspace_id, owner_id=issue.owner_id, config=config
    )
    if target is None:
        return None
    nudge = await queue_nudge(
        session=session,
        workspace_id=issue.workspace_id,
        cause=CAUSE,
        subject=f"issue:{issue.id}",
        facts={"state": "open"},
        target=target,
        payload={**issue_card(issue, record_name), "state": "open"},
        contact_id=issue.entity_id if issue.entity_type == "contact" else None,
        deal_id=issue.entity_id if issue.entity_type == "deal" else None,
    )
    if nudge is not None:
        issue.nudge_id = nudge.id
    return nudge


async def tell_closed(session: AsyncSession, closed: list[HygieneIssue]) -> list[Nudge]:
    """A threaded line under each sent nudge; a nudge not yet sent is simply cancelled."""
    told = [issue for issue in closed if issue.nudge_id is not None]
    if not told:
        return []
    rows = await session.exec(
        select(Nudge).where(col(Nudge.id).in_([issue.nudge_id for issue in told]))
    )
    nudges = {nudge.id: nudge for nudge in rows.all()}
    replies = []
    for issue in told:
        parent = nudges.get(issue.nudge_id)
        if parent is None or parent.state in ("cancelled", "failed"):
            continue
        if parent.state == "pending":
            parent.state = "cancelled"
            session.add(parent)
            continue
        reply = await queue_reply(
            session=session,
            parent=parent,
            cause=CAUSE,
            dedupe_key=f"{CAUSE}:closed:{issue.id}",
            payload={**parent.payload, "state": issue.resolution, "by": issue.closed_by},
        )
        replies.append(reply)
    return replies


async def sweep(
    *, session: AsyncSession, workspace_id: int, config: CrmConfig, now: datetime
) -> HygieneResult:
    """Check every open deal and live contact: the rules that fire with time (close date,
    no activity) need this once a day, and a rule added to app.yaml applies to old records."""
    deals = await session.exec(
        select(Deal.id).where(Deal.workspace_id == workspace_id, Deal.outcome == "open")
    )
    contacts = await session.exec(
        select(Contact.id).where(
            Contact.workspace_id == workspace_id, col(Contact.merged_into_id).is_(None)
        )
    )
    open_elsewhere = await session.exec(
        select(HygieneIssue.entity_type, HygieneIssue.entity_id).where(
            HygieneIssue.workspace_id == workspace_id, col(HygieneIssue.closed_at).is_(None)
        )
    )
    stale = open_elsewhere.all()
    result = await check_contacts(
        session=session,
        workspace_id=workspace_id,
        config=config,
        now=now,
        actor="sweep",
        contact_ids=[*(i for i in contacts.all() if i), *(i for t, i in stale if t == "contact")],
    )
    result.add(
        await check_deals(
            session=session,
            workspace_id=workspace_id,
            config=config,
            now=now,
            actor="sweep",
            deal_ids=[*(i for i in deals.all() if i), *(i for t, i in stale if t == "deal")],
        )
    )
    return result


@dataclass(frozen=True, slots=True)
class RepHygiene:
    """A rep's records (live contacts, open deals), those with an open issue, and the issues."""

    records: int = 0
    flagged: int = 0
    open_issues: int = 0

    @property
    def share(self) -> float:
        """The share of the records with no open issue: 0.0 (all have one) to 1.0 (all clean)."""
        return 1 - self.flagged / self.records

    def __add__(self, other: RepHygiene) -> RepHygiene:
        """Both sets of records together (a rep's contacts and deals)."""
        return RepHygiene(
            self.records + other.records,
            self.flagged + other.flagged,
            self.open_issues + other.open_issues,
        )


async def _owned_counts(
    session: AsyncSession,
    table: type[Contact | Deal],
    entity_type: str,
    owners: Collection[int] | None,
    *where: Any,
) -> dict[int, RepHygiene]:
    """Per owner of these records: how many, how many have an open issue, how many issues."""
    owner, key = col(table.owner_id), col(table.id)
    where = (*where, owner.is_not(None) if owners is None else owner.in_(owners))
    totals = await session.exec(select(owner, func.count()).where(*where).group_by(owner))
    flagged = await session.exec(
        select(owner, func.count(distinct(key)), func.count(col(HygieneIssue.id)))
        .join(
            HygieneIssue,
            (col(HygieneIssue.entity_id) == key)
            & (HygieneIssue.entity_type == entity_type)
            & col(HygieneIssue.closed_at).is_(None),
        )
        .where(*where)
        .group_by(owner)
    )
    troubled = {user: (int(n), int(issues)) for user, n, issues in flagged.all()}
    return {
        user: RepHygiene(int(n), *troubled.get(user, (0, 0)))
        for user, n in totals.all()
        if user is not None
    }


async def hygiene_scores(
    session: AsyncSession, workspace_id: int, owners: Collection[int] | None = None
) -> dict[int, RepHygiene]:
    """Each rep's hygiene, ``{User.id: RepHygiene}``, over these owners (None: everyone).

    Records are the rep's live contacts and open deals; a rep who owns none is absent.
    The manager digest shows it as "hygiene by rep".
    """
    contacts = await _owned_counts(
        session, Contact, "contact", owners,
        Contact.workspace_id == workspace_id, col(Contact.merged_into_id).is_(None),
    )  # fmt: skip
    deals = await _owned_counts(
        session, Deal, "deal", owners, Deal.workspace_id == workspace_id, Deal.outcome == "open"
    )
    return {
        user: contacts.get(user, RepHygiene()) + deals.get(user, RepHygiene())
        for user in {*contacts, *deals}
    }
