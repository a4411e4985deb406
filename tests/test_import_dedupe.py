"""`nudge import-deals` deduplicates the contacts it creates, as capture does."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from bot.deals_import import import_deals
from bot.runtime import Runtime
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.deal import Deal, DealContact
from models.hygiene import MergeRecord
from models.services.identity import resolve_contact
from models.services.inputs import PersonIn

CSV = """deal_id,deal_name,account_name,account_domain,contact_email,contact_name,stage,amount,created_at,closed_at,outcome
D-9,Globex renewal,Globex,globex.example,ana.silva.1990@gmail.com,Ana Silva,Proposal,9000,2025-01-10,2025-02-20,won
"""  # noqa: E501


async def _known_ana(runtime: Runtime) -> int:
    async with unit_of_work(runtime.sessions) as session:
        ana = await resolve_contact(
            session=session, workspace_id=runtime.workspace_id,
            person=PersonIn(email="ana.silva@globex.example", name="Ana Silva"), source="mail",
        )  # fmt: skip
    assert ana.id is not None
    return ana.id


async def test_a_row_naming_a_known_person_elsewhere_merges_into_them(
    runtime: Runtime, tmp_path: Path
) -> None:
    ana = await _known_ana(runtime)
    path = tmp_path / "deals.csv"
    path.write_text(CSV)
    counts, bad = await import_deals(runtime, path)
    assert (counts["deals"], counts["won"], counts["learned"], bad) == (1, 1, 1, [])
    async with unit_of_work(runtime.sessions) as session:
        (merge,) = (await session.exec(select(MergeRecord))).all()
        deal = (await session.exec(select(Deal).where(Deal.external_id == "D-9"))).one()
        linked = (await session.exec(select(DealContact.contact_id))).all()
        live = await session.exec(select(Contact.id).where(col(Contact.merged_into_id).is_(None)))
        keys = (await session.exec(select(ContactIdentity.contact_id, ContactIdentity.value))).all()
    assert merge.survivor_id == ana
    assert (deal.outcome, linked, live.all()) == ("won", [ana], [ana])
    assert sorted(keys) == [(ana, "ana.silva.1990@gmail.com"), (ana, "ana.silva@globex.example")]
