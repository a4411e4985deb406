"""``/accounts``: the companies the team sells to (read only: capture and imports make them)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import col, select

from bot.api.framework import Call, Operation, page_of, record_of
from bot.api.schemas import AccountQuery, AccountRead, Page
from models.account import Account
from models.services.profile import like_pattern


def account_read(account: Account) -> AccountRead:
    """The API shape of an account."""
    return AccountRead.model_validate(account, from_attributes=True)


async def list_accounts(call: Call) -> Page[AccountRead]:
    """Accounts in id order, filtered."""
    query: AccountQuery = call.query
    where: list[ColumnElement[bool]] = [col(Account.workspace_id) == call.workspace_id]
    if query.owner is not None:
        where.append(col(Account.owner_id) == query.owner)
    if query.q:
        pattern = like_pattern(query.q.casefold())
        where.append(
            or_(
                func.lower(col(Account.name)).like(pattern, escape="\\"),
                func.lower(col(Account.domain)).like(pattern, escape="\\"),
            )
        )
    if query.updated_since is not None:
        where.append(
            func.coalesce(col(Account.updated_at), col(Account.created_at)) >= query.updated_since
        )
    rows, next_path = await page_of(call, select(Account), Account.id, where)
    return Page[AccountRead](data=[account_read(a) for a in rows], next=next_path)


async def get_account(call: Call) -> AccountRead:
    """One account."""
    return account_read(await record_of(call, Account, "account"))


OPERATIONS = (
    Operation("GET", "/accounts", "listAccounts", "List accounts", "accounts:read", "accounts",
              list_accounts, Page[AccountRead], query=AccountQuery),
    Operation("GET", "/accounts/{id}", "getAccount", "Get an account", "accounts:read",
              "accounts", get_account, AccountRead),
)  # fmt: skip
