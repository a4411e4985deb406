"""Pieces the profile, deal and home views share: search patterns, people, deals, issues."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.contact import Contact, ContactIdentity
from models.deal import Deal
from models.hygiene import HygieneIssue
from models.services.profile_types import Company, ContactMatch, DealSummary, IssueView, Person
from models.workspace import User


async def emails_of(session: AsyncSession, contact_ids: list[int]) -> dict[int, list[str]]:
    """Each contact's email addresses, first known first."""
    rows = await session.exec(
        select(ContactIdentity.contact_id, ContactIdentity.value)
        .where(col(ContactIdentity.contact_id).in_(contact_ids), ContactIdentity.kind == "email")
        .order_by(col(ContactIdentity.id))
    )
    found: dict[int, list[str]] = {}
    for contact_id, value in rows.all():
        found.setdefault(contact_id, []).append(value)
    return found


def contact_match(
    contact: Contact, company: str | None, emails: dict[int, list[str]]
) -> ContactMatch:
    """A contact as a search result."""
    return ContactMatch(
        contact_id=contact.id or 0,
        name=contact.name,
        title=contact.title,
        email=next(iter(emails.get(contact.id or 0, [])), None),
        company=company,
        score=contact.score,
        band=contact.score_band,
    )


async def people_by_id(session: AsyncSession, user_ids: set[int | None]) -> dict[int, Person]:
    """Team members by user id (None ids are ignored)."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    users = await session.exec(select(User).where(col(User.id).in_(ids)))
    return {
        u.id or 0: Person(user_id=u.id or 0, slack_user_id=u.slack_user_id, name=u.name)
        for u in users.all()
    }


def company_of(account: Account | None) -> Company | None:
    if account is None or account.id is None:
        return None
    return Company(
        account_id=account.id,
        name=account.name,
        domain=account.domain,
        industry=account.industry,
        employees=account.employees,
    )


async def deal_summaries(session: AsyncSession, deals: list[Deal]) -> list[DealSummary]:
    """Deals with their company name and owner, in the order given."""
    owners = await people_by_id(session, {d.owner_id for d in deals})
    account_ids = {d.account_id for d in deals if d.account_id is not None}
    names = dict(
        (
            await session.exec(
                select(Account.id, Account.name).where(col(Account.id).in_(account_ids))
            )
        ).all()
    )
    return [
        DealSummary(
            deal_id=d.id or 0,
            name=d.name,
            stage=d.stage,
            amount=d.amount,
            close_date=d.close_date,
            outcome=d.outcome,
            company=names.get(d.account_id),
            owner=owners.get(d.owner_id or 0),
        )
        for d in deals
    ]


def issue_view(issue: HygieneIssue) -> IssueView:
    """An open hygiene issue as shown to people."""
    return IssueView(
        issue_id=issue.id or 0,
        rule=issue.rule,
        entity_type=issue.entity_type,
        entity_id=issue.entity_id,
        message=issue.message,
        opened_at=issue.opened_at,
    )


async def open_issues(
    *, session: AsyncSession, workspace_id: int, contact_ids: list[int], deal_ids: list[int]
) -> list[IssueView]:
    """Open hygiene issues on these contacts and deals, oldest first."""
    rows = await session.exec(
        select(HygieneIssue)
        .where(
            HygieneIssue.workspace_id == workspace_id,
            col(HygieneIssue.closed_at).is_(None),
            or_(
                (col(HygieneIssue.entity_type) == "contact")
                & col(HygieneIssue.entity_id).in_(contact_ids),
                (col(HygieneIssue.entity_type) == "deal")
                & col(HygieneIssue.entity_id).in_(deal_ids),
            ),
        )
        .order_by(col(HygieneIssue.opened_at), col(HygieneIssue.id))
    )
    return [issue_view(i) for i in rows.all()]
