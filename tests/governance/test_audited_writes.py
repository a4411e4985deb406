"""Writes that change CRM data leave an audit row (SPEC C5.2): capture batches, Slack's Fix
data edits, import-deals rows and role changes from Slack user groups; ids, roles and
non-personal values only, and the chain still verifies."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import col, select

from bot.deals_import import import_deals
from bot.flows import capture, capture_all_in
from bot.runtime import Runtime
from models.activity import Activity
from models.audit import AuditEntry
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue
from models.services.audit import verify_chain
from models.services.hygiene_fixes import FixIn, apply_fix
from models.services.inputs import ActivityIn, PersonIn
from models.services.roles import apply_roles, store_group_members
from models.workspace import User
from tests.conftest import NOW, REP
from tests.hygiene_world import add_contact, add_deal, all_issues, check, make_world, with_rules
from tests.test_deals_import import CSV

ANA = PersonIn(email="ana.silva@globex.example", name="Ana Silva", phone="+1 415 555 0142")
GROUP = "S0MANAGERS"


async def _rows(runtime: Runtime, action: str) -> list[AuditEntry]:
    async with unit_of_work(runtime.sessions) as session:
        query = select(AuditEntry).where(AuditEntry.action == action)
        return list((await session.exec(query.order_by(col(AuditEntry.id)))).all())


async def _trail_is_clean(runtime: Runtime, *personal: str) -> None:
    """The chain verifies and no audit row holds any of these personal values."""
    async with unit_of_work(runtime.sessions) as session:
        assert (await verify_chain(session=session)).ok
        rows = (await session.exec(select(AuditEntry))).all()
    text = json.dumps([[r.before, r.after, r.target_id] for r in rows]).lower()
    assert rows
    assert [p for p in personal if p.lower() in text] == []


def _mail(external_id: str, person: PersonIn, status: str | None = None) -> ActivityIn:
    """An email; with ``status``, one whose later deliveries merge their facts in."""
    return ActivityIn(
        source="email", external_id=external_id, kind="email", direction="inbound",
        occurred_at=NOW - timedelta(hours=2), people=(person,), rep_email=REP.email,
        subject="Pricing", facts={"status": status} if status else {},
        update="merge" if status else "never",
    )  # fmt: skip


async def test_a_captured_batch_is_one_audit_row_of_ids(runtime: Runtime) -> None:
    bo = PersonIn(email="bo.lee@initech.example", name="Bo Lee")
    batch = [_mail("m1", ANA), _mail("m2", bo, "sent")]
    async with unit_of_work(runtime.sessions) as session:
        await capture_all_in(session, runtime, batch)
        activities = (await session.exec(select(Activity.id).order_by(col(Activity.id)))).all()
        contacts = (await session.exec(select(Contact.id).order_by(col(Contact.id)))).all()
    assert await capture(runtime, batch[0]) == "duplicate"
    assert await capture(runtime, _mail("m2", bo, "read")) == "stored"
    first, update = await _rows(runtime, "capture.stored")
    assert (first.actor, first.target_type, first.before) == ("capture:email", "capture_batch", {})
    assert first.after == {
        "activities_created": 2, "activity_ids": [[activities[0], activities[1]]],
        "activities_updated": 0, "updated_activity_ids": [],
        "contacts_created": 2, "contact_ids": [[contacts[0], contacts[1]]],
    }  # fmt: skip
    assert update.after["activities_updated"] == 1
    assert update.after["updated_activity_ids"] == [[activities[1], activities[1]]]
    assert update.after["activities_created"] == update.after["contacts_created"] == 0
    await _trail_is_clean(runtime, "ana.silva", "Ana Silva", "Bo Lee", "bo.lee", "5550142")


async def _issue(runtime: Runtime, rule: str, detail_start: str = "") -> HygieneIssue:
    issues = await all_issues(await make_world(runtime))
    return next(i for i in issues if i.rule == rule and i.detail.startswith(detail_start))


async def _fix(runtime: Runtime, issue: HygieneIssue, fix: FixIn, ref: str = "V1") -> None:
    async with unit_of_work(runtime.sessions) as session:
        user = (await session.exec(select(User).where(User.slack_user_id == REP.slack_id))).one()
        fresh = await session.get(HygieneIssue, issue.id)
        assert fresh is not None
        error = await apply_fix(session=session, issue=fresh, fix=fix, user=user, ref=ref,
                                config=runtime.config.crm, now=NOW)  # fmt: skip
    assert error is None


async def test_fix_data_edits_to_a_deal_are_audited(runtime: Runtime) -> None:
    world = await make_world(runtime)
    needs = ["contact", "amount", "close_date", "owner"]
    with_rules(runtime, {"rule": "required_fields", "stages": {"Negotiation": needs}})
    deal = await add_deal(world, "Renewal", stage="Negotiation", amount=None, owned=False)
    await check(world, deals=(deal,))
    issues = {i.detail: i for i in await all_issues(world)}
    await _fix(runtime, issues["owner"], FixIn(owner_slack_id=REP.slack_id))
    await _fix(runtime, issues["amount"], FixIn(amount=12_000))
    await _fix(runtime, issues["amount"], FixIn(amount=12_000), ref="V2")  # saves nothing new
    await _fix(runtime, issues["close_date"], FixIn(close_date=date(2026, 12, 31)))
    await _fix(runtime, issues["contact"], FixIn(contact_email="new.buyer@globex.example"))
    async with unit_of_work(runtime.sessions) as session:
        query = select(DealContact.contact_id).where(DealContact.deal_id == deal)
        linked = (await session.exec(query)).one()
    rows = await _rows(runtime, "deal.fixed")
    assert {(r.actor, r.target_type, r.target_id) for r in rows} == {
        (f"slack:{REP.slack_id}", "deal", str(deal))
    }
    assert [(r.before, r.after) for r in rows] == [
        ({"owner_id": None}, {"issue_id": issues["owner"].id, "owner_id": world.rep_id}),
        ({"amount": None}, {"issue_id": issues["amount"].id, "amount": 12_000}),
        ({"close_date": None}, {"issue_id": issues["close_date"].id, "close_date": "2026-12-31"}),
        ({}, {"issue_id": issues["contact"].id, "contact_created": True,
              "linked_contact_id": linked}),
    ]  # fmt: skip
    await _trail_is_clean(runtime, "new.buyer")


async def test_fix_data_edits_to_a_contact_record_no_personal_value(runtime: Runtime) -> None:
    world = await make_world(runtime)
    with_rules(
        runtime,
        {"rule": "contact_details", "required": []},
        {"rule": "no_activity", "days": 14, "applies_to": ["contact"]},
    )
    bo = await add_contact(world, "Bo Lee", email="bo.lee@globex", phone="+1123",
                           created=NOW - timedelta(days=30))  # fmt: skip
    await check(world, contacts=(bo,))
    email = await _issue(runtime, "contact_details", "invalid_email")
    phone = await _issue(runtime, "contact_details", "invalid_phone")
    note = await _issue(runtime, "no_activity")
    await _fix(runtime, email, FixIn(email="bo.lee@globex.example"))
    await _fix(runtime, phone, FixIn(phone="+1 415 555 0199"))
    await _fix(runtime, note, FixIn(note="Bo Lee called back about pricing"))
    await _fix(runtime, note, FixIn(note="Bo Lee called back about pricing"))  # a retry
    async with unit_of_work(runtime.sessions) as session:
        logged = (await session.exec(select(Activity.id).where(Activity.kind == "note"))).one()
        left = (await session.exec(select(ContactIdentity.id))).all()
    assert len(left) == 2
    rows = await _rows(runtime, "contact.fixed")
    assert {(r.actor, r.target_type, r.target_id) for r in rows} == {
        (f"slack:{REP.slack_id}", "contact", str(bo))
    }
    assert [(r.before, r.after) for r in rows] == [
        ({"removed_identity_id": email.facts["identity_id"]},
         {"issue_id": email.id, "email": "changed"}),
        ({"removed_identity_id": phone.facts["identity_id"]},
         {"issue_id": phone.id, "phone": "changed"}),
        ({}, {"issue_id": note.id, "note_activity_id": logged}),
    ]  # fmt: skip
    await _trail_is_clean(runtime, "bo.lee", "Bo Lee", "5550199", "+1123", "pricing")


async def test_each_imported_deal_row_is_audited_with_ids(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    path.write_text(CSV)
    await import_deals(runtime, path)
    await import_deals(runtime, path)
    async with unit_of_work(runtime.sessions) as session:
        deals = (await session.exec(select(Deal).order_by(col(Deal.id)))).all()
        query = select(DealContact.deal_id, DealContact.contact_id)
        links: dict[int | None, int] = dict((await session.exec(query)).all())
    rows = await _rows(runtime, "deal.imported")
    assert {(r.actor, r.target_type) for r in rows} == {("import", "deal")}
    assert [r.after for r in rows] == [
        {"account_id": d.account_id, "contact_id": links[d.id], "deal_id": d.id,
         "contacts_created": [links[d.id]] if first else []}
        for first in (True, False)
        for d in deals
    ]  # fmt: skip
    await _trail_is_clean(runtime, "ana@", "Ana Silva", "bob@", "Bob Ray", "eve@")


async def test_role_changes_from_slack_user_groups_are_audited(runtime: Runtime) -> None:
    crm = runtime.config.crm.model_copy(update={"roles": {GROUP: "manager"}})

    async def refresh(members: list[str]) -> None:
        async with unit_of_work(runtime.sessions) as session:
            wid = runtime.workspace_id
            await store_group_members(session=session, workspace_id=wid, members={GROUP: members})
            await apply_roles(session=session, workspace_id=wid, config=crm,
                              actor="slack:usergroups")  # fmt: skip

    await refresh([REP.slack_id, "U0NEW01"])
    await refresh([REP.slack_id, "U0NEW01"])  # nothing changed: no rows
    await refresh(["U0NEW01"])
    rows = await _rows(runtime, "role.changed")
    assert {(r.actor, r.target_type) for r in rows} == {("slack:usergroups", "slack_user")}
    assert [(r.target_id, r.before, r.after) for r in rows] == [
        ("U0NEW01", {"role": "guest"}, {"role": "manager", "source": "usergroups"}),
        (REP.slack_id, {"role": "rep"}, {"role": "manager", "source": "usergroups"}),
        (REP.slack_id, {"role": "manager"}, {"role": "rep", "source": "crm.team"}),
    ]
    await _trail_is_clean(runtime, REP.email, REP.name)
