"""Duplicate contacts in a workspace: strong matches merged, weaker ones proposed to the owner.

Runs on the contacts a capture batch just created (compared with the workspace's contacts
that share a name prefix, company, phone ending or email local part) and, from
``nudge dedupe``, over the whole workspace. A pair already answered — merged, "not the
same", or a merge undone — is never merged or proposed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.config import CrmConfig
from models.contact import Contact, ContactIdentity
from models.db import insert_missing
from models.hygiene import MergeProposal, MergeRecord
from models.nudge import Nudge
from models.services.matching import Candidate, Person, Thresholds, candidates, fold, plan
from models.services.merges import MergeError, merge_contacts
from models.services.nudges import (
    NudgeDraft,
    lead_cards,
    owner_destinations,
    queue_first_nudges,
)
from models.types import utcnow

THRESHOLDS = Thresholds()
ACTOR = "nudge:dedupe"
NEAR_CHUNK = 50  # new contacts per candidate query, to keep its OR list short


@dataclass(slots=True)
class DedupeResult:
    """What a run did: merges made, proposals opened, nudges queued, pairs compared."""

    merges: list[MergeRecord] = field(default_factory=list)
    proposals: list[MergeProposal] = field(default_factory=list)
    nudges: list[Nudge] = field(default_factory=list)
    candidates: int = 0


def _nearby(new: Sequence[Contact], identities: dict[int, list[tuple[str, str]]]) -> Any:
    """SQL condition for contacts that could share a block with the new ones."""
    prefixes = {token[:3] for c in new for token in fold(c.name).split()[:3]}
    name = func.lower(Contact.name)
    conditions: list[ColumnElement[bool]] = [col(Contact.id).in_({c.id for c in new})]
    conditions += [name.startswith(p, autoescape=True) for p in prefixes]
    conditions += [name.contains(f" {p}", autoescape=True) for p in prefixes]
    accounts = {c.account_id for c in new if c.account_id is not None}
    if accounts:
        conditions.append(col(Contact.account_id).in_(accounts))
    keys = [pair for c in new for pair in identities.get(c.id or 0, [])]
    by_key = [
        col(ContactIdentity.value).endswith(value[-4:], autoescape=True)
        if kind == "phone"
        else col(ContactIdentity.value).startswith(value.partition("@")[0] + "@", autoescape=True)
        for kind, value in keys
    ]
    if by_key:
        conditions.append(
            col(Contact.id).in_(
                select(ContactIdentity.contact_id).where(
                    col(ContactIdentity.kind).in_(("email", "phone")), or_(*by_key)
                )
            )
        )
    return or_(*conditions)


async def _identities(
    session: AsyncSession, workspace_id: int, contact_ids: set[int] | None
) -> dict[int, list[tuple[str, str]]]:
    query = select(ContactIdentity.contact_id, ContactIdentity.kind, ContactIdentity.value).where(
        ContactIdentity.workspace_id == workspace_id,
        col(ContactIdentity.kind).in_(("email", "phone")),
    )
    if contact_ids is not None:
        query = query.where(col(ContactIdentity.contact_id).in_(contact_ids))
    found: dict[int, list[tuple[str, str]]] = {}
    for contact_id, kind, value in (await session.exec(query)).all():
        found.setdefault(contact_id, []).append((kind, value))
    return found


async def people_of(
    session: AsyncSession, workspace_id: int, near: Sequence[Contact] | None = None
) -> list[Person]:
    """The workspace's live contacts as matching sees them (only those near ``near``).

    A name that is only the local part of the contact's email (what capture writes when no
    name was given) is no name: it says nothing about who the person is.
    """
    query = (
        select(Contact.id, Contact.name, Account.name)
        .join(Account, col(Account.id) == col(Contact.account_id), isouter=True)
        .where(Contact.workspace_id == workspace_id, col(Contact.merged_into_id).is_(None))
    )
    rows: Sequence[tuple[int | None, str, str | None]]
    if near is None:
        rows = (await session.exec(query)).all()
    else:
        own = await _identities(session, workspace_id, {c.id for c in near if c.id is not None})
        found: dict[int | None, tuple[int | None, str, str | None]] = {}
        for start in range(0, len(near), NEAR_CHUNK):
            chunk = near[start : start + NEAR_CHUNK]
            found |= {row[0]: row for row in (await session.exec(query.where(_nearby(chunk, own))))}
        rows = list(found.values())
    ids = {int(contact_id) for contact_id, _name, _company in rows if contact_id is not None}
    identities = await _identities(session, workspace_id, ids if near is not None else None)
    people = []
    for contact_id, name, company in rows:
        assert contact_id is not None
        keys = identities.get(contact_id, [])
        emails = tuple(v for k, v in keys if k == "email")
        people.append(
            Person(
                key=contact_id,
                name="" if name in {e.partition("@")[0] for e in emails} else name,
                company=company or "",
                phones=tuple(v for k, v in keys if k == "phone"),
                emails=emails,
            )
        )
    return people


async def dedupe(
    *,
    session: AsyncSession,
    workspace_id: int,
    config: CrmConfig,
    new: Sequence[Contact] | None = None,
    thresholds: Thresholds = THRESHOLDS,
    actor: str = ACTOR,
) -> DedupeResult:
    """Merge strong matches and propose weaker ones, among ``new`` contacts or all of them."""
    result = DedupeResult()
    if new is not None and not new:
        return result
    people = await people_of(session, workspace_id, new)
    among = {c.id for c in new if c.id is not None} if new is not None else None
    found = candidates(people, weak=thresholds.weak, among=among)
    result.candidates = len(found)
    todo = plan(found, thresholds, await _answered(session, workspace_id))
    for survivor, merged, score in todo.merges:
        try:
            record = await merge_contacts(
                session=session, workspace_id=workspace_id, survivor_id=survivor,
                merged_id=merged, actor=actor, score=score,
            )  # fmt: skip
        except MergeError:
            continue  # another worker merged one of them first
        result.merges.append(record)
    await _propose_all(session, workspace_id, todo.proposals, config, result)
    return result


async def _answered(session: AsyncSession, workspace_id: int) -> set[tuple[int, int]]:
    """Pairs already proposed, merged or told apart: never proposed or merged again."""
    query = select(MergeProposal.contact_a_id, MergeProposal.contact_b_id).where(
        MergeProposal.workspace_id == workspace_id
    )
    return {(a, b) for a, b in (await session.exec(query)).all()}


async def _propose_all(
    session: AsyncSession,
    workspace_id: int,
    found: Sequence[Candidate],
    config: CrmConfig,
    result: DedupeResult,
) -> None:
    """Open proposals and ask each pair's owner, in Slack, whether the two are one person.

    A pair another worker proposed a moment earlier is left to that worker's nudge.
    """
    rows = [
        {"workspace_id": workspace_id, "contact_a_id": c.a, "contact_b_id": c.b,
         "similarity": c.score, "state": "open", "created_at": utcnow()}
        for c in found
    ]  # fmt: skip
    ids = await insert_missing(session, MergeProposal, rows)
    if not ids:
        return
    proposals = (
        await session.exec(
            select(MergeProposal)
            .where(col(MergeProposal.id).in_(ids))
            .order_by(col(MergeProposal.id))
        )
    ).all()
    result.proposals += proposals
    by_pair = {(c.a, c.b): c for c in found}
    pairs = [(p.contact_a_id, p.contact_b_id) for p in proposals]
    contact_ids = {i for pair in pairs for i in pair}
    contacts = {
        c.id: c
        for c in (await session.exec(select(Contact).where(col(Contact.id).in_(contact_ids))))
    }
    owners = [contacts[a].owner_id or contacts[b].owner_id for a, b in pairs]
    targets = await owner_destinations(
        session=session, workspace_id=workspace_id, owner_ids=owners, config=config
    )
    cards = await lead_cards(session=session, contacts=contacts.values())
    identities = await _identities(session, workspace_id, contact_ids)
    drafts = []
    for proposal, owner in zip(proposals, owners, strict=True):
        target = targets[owner]
        if target is None:
            continue
        candidate = by_pair[(proposal.contact_a_id, proposal.contact_b_id)]
        shown = [
            cards[i] | {"emails": [v for k, v in identities.get(i, []) if k == "email"][:2]}
            for i in (candidate.a, candidate.b)
        ]
        payload = {"proposal_id": proposal.id, "score": candidate.score,
                   "evidence": candidate.evidence, "contacts": shown}  # fmt: skip
        drafts.append(
            NudgeDraft(
                cause="merge_proposal",
                subject=f"contacts:{candidate.a}:{candidate.b}",
                facts={"proposal": proposal.id},
                target=target,
                payload=payload,
                contact_id=candidate.a,
            )
        )
    result.nudges += await queue_first_nudges(
        session=session, workspace_id=workspace_id, drafts=drafts
    )
