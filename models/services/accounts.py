"""Accounts as admins or CRM imports describe them."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.services.identity import resolve_account
from models.types import utcnow


async def upsert_account(
    *,
    session: AsyncSession,
    workspace_id: int,
    domain: str,
    name: str,
    industry: str | None = None,
    employees: int | None = None,
    owner_id: int | None = None,
) -> Account:
    """Create or update the account of a company domain."""
    account = await resolve_account(
        session=session, workspace_id=workspace_id, domain=domain.lower(), company=name
    )
    account.name = name
    account.industry = industry or account.industry
    account.employees = employees if employees is not None else account.employees
    account.owner_id = owner_id or account.owner_id
    account.updated_at = utcnow()
    session.add(account)
    await session.flush()
    return account
