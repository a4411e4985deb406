"""`nudge import-deals CSV`: accounts, contacts and deals from history; outcomes teach the model.

Columns (a header row; extra columns are ignored, missing optional ones are empty):
``deal_id, deal_name, account_name, account_domain, contact_email, contact_name,
contact_title, owner_email, stage, amount, created_at, closed_at, outcome, industry,
employees``. ``outcome`` is won, lost or open; dates are ISO-8601 (a date alone is
midnight UTC). A closed deal's label goes to the contact's features as they stood just
before the close, scored from whatever Nudge holds about them by then. Each row loaded is
audited (actor ``import``) with the ids of the account, contact and deal it wrote.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows import deduplicate
from bot.lease import learning_turn
from bot.runtime import Runtime
from models.account import Account
from models.contact import Contact
from models.db import unit_of_work
from models.deal import Deal
from models.services.accounts import upsert_account
from models.services.audit import record_audit
from models.services.deals import close_deal, upsert_deal
from models.services.hygiene import recheck
from models.services.identity import resolve_contacts
from models.services.inputs import PersonIn
from models.services.scoring import rescore_contact
from models.services.workspaces import user_by_email

BEFORE_CLOSE = timedelta(days=1)


class DealRow(BaseModel):
    """One validated line of the file."""

    deal_id: str = Field(min_length=1, max_length=200)
    deal_name: str = Field(min_length=1, max_length=200)
    account_name: str = Field(min_length=1, max_length=200)
    account_domain: str = Field(min_length=3, max_length=253)
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    contact_name: str = ""
    contact_title: str | None = None
    owner_email: str | None = None
    stage: str = "Discovery"
    amount: float | None = None
    created_at: datetime
    closed_at: datetime | None = None
    outcome: str = Field(default="open", pattern="^(won|lost|open)$")
    industry: str | None = None
    employees: int | None = None

    @field_validator("created_at", "closed_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A line that could not be read, with why."""

    line: int
    reason: str


def read_rows(path: Path) -> Iterator[DealRow | BadRow]:
    """Every line of the file, validated; empty cells count as missing."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, record in enumerate(csv.DictReader(handle), start=2):
            values = {k.strip(): v.strip() for k, v in record.items() if k and v and v.strip()}
            try:
                yield DealRow.model_validate(values)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                yield BadRow(number, f"{where}: {first['msg']}")


async def _load(runtime: Runtime, row: DealRow) -> Deal:
    async with unit_of_work(runtime.sessions) as session:
        owner = (
            await user_by_email(
                session=session, workspace_id=runtime.workspace_id, email=row.owner_email
            )
            if row.owner_email
            else None
        )
        account = await upsert_account(
            session=session, workspace_id=runtime.workspace_id, domain=row.account_domain,
            name=row.account_name, industry=row.industry, employees=row.employees,
            owner_id=owner.id if owner else None,
        )  # fmt: skip
        created: list[Contact] = []
        (contact,) = await resolve_contacts(
            session=session,
            workspace_id=runtime.workspace_id,
            people=[PersonIn(email=row.contact_email, name=row.contact_name,
                             title=row.contact_title, company=row.account_name)],
            source="import", created=created,
        )  # fmt: skip
        contact.account_id = contact.account_id or account.id
        contact.owner_id = contact.owner_id or account.owner_id
        stage = row.stage if row.outcome == "open" else "Negotiation"
        deal = await upsert_deal(
            session=session, workspace_id=runtime.workspace_id, external_id=row.deal_id,
            name=row.deal_name, account_id=account.id, contact_id=contact.id,
            owner_id=owner.id if owner else None, stage=stage, amount=row.amount,
            created_at=row.created_at, actor="import",
        )  # fmt: skip
        assert deal.id is not None
        contact, paired = await deduplicate(session, runtime, contact, created)
        assert contact.id is not None
        # a closed row's deal is checked by close_deal; checking it while open would nudge
        await recheck(
            session=session, workspace_id=runtime.workspace_id, config=runtime.config.crm,
            now=runtime.clock(), actor="import", contact_ids=[contact.id, *paired],
            deal_ids=[deal.id] if row.outcome == "open" else [], linked_deals=False,
        )  # fmt: skip
        if row.closed_at is not None and deal.outcome == "open":
            await rescore_contact(
                session=session, scorer=runtime.scorer, contact=contact,
                at=max(row.created_at, row.closed_at - BEFORE_CLOSE),
            )  # fmt: skip
        await _audit_row(session, runtime.workspace_id, account, contact, deal, created)
        return deal


async def _audit_row(
    session: AsyncSession, workspace_id: int, account: Account, contact: Contact, deal: Deal,
    created: list[Contact],
) -> None:  # fmt: skip
    """The audit row of one loaded line: the ids it wrote, and the contacts it created."""
    await record_audit(
        session=session, workspace_id=workspace_id, actor="import", action="deal.imported",
        target_type="deal", target_id=deal.id,
        after={"account_id": account.id, "contact_id": contact.id, "deal_id": deal.id,
               "contacts_created": [c.id for c in created]},
    )  # fmt: skip


async def _close(runtime: Runtime, deal: Deal, row: DealRow) -> int:
    assert row.closed_at is not None
    async with learning_turn(runtime) as turn:
        session, pending = turn.session, turn.pending
        fresh = await session.get(Deal, deal.id)
        assert fresh is not None
        return await close_deal(
            session=session, pending=pending, deal=fresh, outcome=row.outcome, at=row.closed_at,
            actor="import", config=runtime.config.crm, salt=runtime.salt, source="import",
        )  # fmt: skip


async def import_deals(runtime: Runtime, path: Path) -> tuple[Counter[str], list[BadRow]]:
    """Load the file in order; returns counts and the lines that were refused."""
    counts: Counter[str] = Counter()
    bad: list[BadRow] = []
    for row in read_rows(path):
        if isinstance(row, BadRow):
            bad.append(row)
            continue
        deal = await _load(runtime, row)
        counts["deals"] += 1
        if row.outcome in ("won", "lost") and row.closed_at is not None:
            counts[row.outcome] += 1
            counts["learned"] += await _close(runtime, deal, row)
    counts["refused"] = len(bad)
    return counts, bad
