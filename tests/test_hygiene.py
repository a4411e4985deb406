"""Hygiene runs on every change: mail capture, a deal import, a deal closed; never blocking."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from bot.deals_import import import_deals
from bot.flows import capture
from bot.runtime import Runtime
from handlers.blocks import render_nudge
from handlers.mail_capture import email_input
from models.contact import Contact
from models.db import unit_of_work
from models.deal import Deal
from models.integration import WebhookDelivery
from models.services.deals import close_deal
from models.services.outbound import create_subscription
from models.workspace import User
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.hygiene_world import (
    add_contact,
    add_deal,
    all_issues,
    check,
    make_world,
    nudges_of,
    open_issues,
    with_rules,
)
from tests.mail_factory import message

DOMAINS = frozenset({INTERNAL_DOMAIN})


def _mail(sender: tuple[str, str], n: int, at_days_ago: float) -> bytes:
    return message(
        message_id=f"hygiene-{n}@example.test", sender=sender, to=(REP.name, REP.email),
        sent_at=NOW - timedelta(days=at_days_ago), subject="Quick question", body="Hi Dana.",
    )  # fmt: skip


async def test_captured_mail_opens_an_issue_once_and_nudges_the_owner(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "contact_details", "required": ["email", "phone"]})
    world = await make_world(runtime)
    raw = _mail(("Bo Lee", "bo.lee@initech.example"), 1, 1)
    assert await capture(runtime, email_input(raw, internal_domains=DOMAINS)) == "stored"
    async with unit_of_work(runtime.sessions) as session:
        bo = (await session.exec(select(Contact).where(Contact.name == "Bo Lee"))).one()
    assert await open_issues(world) == {("contact", bo.id, "contact_details", "missing_phone")}
    (nudge,) = await nudges_of(world)
    assert (nudge.channel, nudge.contact_id) == (REP.slack_id, bo.id)
    text, blocks = render_nudge(nudge)
    assert text == "🧹 Data incomplete: Contact *Bo Lee* has no phone number."
    assert blocks[1]["elements"][0]["action_id"] == "fix_data"
    assert "Automated by Nudge" in str(blocks[-1])

    await capture(runtime, email_input(_mail(("Bo Lee", "bo.lee@initech.example"), 2, 0.5),
                                       internal_domains=DOMAINS))  # fmt: skip
    assert len(await all_issues(world)) == 1
    assert len(await nudges_of(world)) == 1


async def test_a_record_nobody_owns_is_reported_to_an_admin(runtime: Runtime) -> None:
    """No owner and no team channel: the first admin hears of it rather than nobody."""
    with_rules(runtime, {"rule": "missing_owner", "applies_to": ["contact"]})
    world = await make_world(runtime)
    orphan = await add_contact(world, "Orla Quinn", email="orla@initech.example", owned=False)
    await check(world, contacts=(orphan,))
    assert await nudges_of(world) == []  # no admin yet: nobody to tell
    async with unit_of_work(runtime.sessions) as session:
        session.add(User(workspace_id=world.workspace_id, slack_user_id="U0ADMIN1",
                         name="Ada Admin", role="admin"))  # fmt: skip
    other = await add_contact(world, "Otto Quinn", email="otto@initech.example", owned=False)
    await check(world, contacts=(other,))
    (nudge,) = [n for n in await nudges_of(world) if n.contact_id == other]
    assert nudge.channel == "U0ADMIN1"


async def test_captured_mail_revives_a_quiet_deal(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "no_activity", "days": 14})
    world = await make_world(runtime)
    ana = await add_contact(world, "Ana Silva", email="ana.silva@globex.example",
                            created=NOW - timedelta(days=60))  # fmt: skip
    deal = await add_deal(world, "Globex pilot", contacts=(ana,), created=NOW - timedelta(days=60))
    await check(world, deals=(deal,))
    assert await open_issues(world) == {("deal", deal, "no_activity", "")}

    raw = _mail(("Ana Silva", "ana.silva@globex.example"), 3, 0.1)
    await capture(runtime, email_input(raw, internal_domains=DOMAINS))
    assert await open_issues(world) == set()
    (issue,) = await all_issues(world)
    assert (issue.resolution, issue.closed_by) == ("fixed", "capture")
    # Its nudge was never posted, so it is withdrawn rather than answered in a thread.
    assert [n.state for n in await nudges_of(world)] == ["cancelled"]


CSV = """deal_id,deal_name,account_name,account_domain,contact_email,contact_name,owner_email,stage,amount,created_at,closed_at,outcome
D-1,Globex pilot,Globex,globex.example,ana@globex.example,Ana Silva,,Proposal,12000,2026-01-10,2026-02-20,won
D-3,Umbrella,Umbrella,umbrella.example,eve@umbrella.example,Eve,,Negotiation,,2026-11-01,,open
D-4,Initech,Initech,initech.example,bob@initech.example,Bob,dana.whitfield@acme-analytics.example,Negotiation,9000,2026-11-01,,open
"""  # noqa: E501


async def test_deal_import_checks_each_row_once(runtime: Runtime, tmp_path: Path) -> None:
    with_rules(runtime, {"rule": "required_fields", "stages": {"Negotiation": ["amount"]}},
               {"rule": "missing_owner", "applies_to": ["deal"]})  # fmt: skip
    path = tmp_path / "deals.csv"
    path.write_text(CSV)
    await import_deals(runtime, path)
    async with unit_of_work(runtime.sessions) as session:
        umbrella = (await session.exec(select(Deal).where(Deal.external_id == "D-3"))).one()
    world = await make_world(runtime)
    assert await open_issues(world) == {
        ("deal", umbrella.id, "required_fields", "amount"),
        ("deal", umbrella.id, "missing_owner", ""),
    }
    assert len(await all_issues(world)) == 2  # the won deal was never flagged on its way
    await import_deals(runtime, path)
    assert len(await all_issues(world)) == 2


async def test_closing_a_deal_closes_its_issues(runtime: Runtime) -> None:
    world = await make_world(runtime)
    deal_id = await add_deal(world, "Late", close_date=NOW.date() - timedelta(days=2))
    await check(world, deals=(deal_id,))
    assert await open_issues(world) == {("deal", deal_id, "close_date_past", "")}
    async with runtime.scorer.update() as pending, unit_of_work(runtime.sessions) as session:
        deal = await session.get(Deal, deal_id)
        assert deal is not None
        await close_deal(session=session, pending=pending, deal=deal, outcome="lost", at=NOW,
                         actor="slack:U0REP01", config=runtime.config.crm,
                         salt=runtime.salt)  # fmt: skip
    assert await open_issues(world) == set()
    (issue,) = await all_issues(world)
    assert (issue.resolution, issue.closed_by) == ("fixed", "slack:U0REP01")


async def test_issues_opened_and_closed_by_checks_go_out_as_webhook_events(
    runtime: Runtime,
) -> None:
    with_rules(runtime, {"rule": "close_date_past"})
    world = await make_world(runtime)
    async with unit_of_work(runtime.sessions) as session:
        await create_subscription(
            session=session, workspace_id=runtime.workspace_id, url="https://erp.example/hooks",
            events=["hygiene.issue_opened", "hygiene.issue_closed"], actor="test",
        )  # fmt: skip
    deal = await add_deal(world, "Late", close_date=NOW.date() - timedelta(days=1))
    await check(world, deals=(deal,))
    async with unit_of_work(runtime.sessions) as session:
        row = await session.get(Deal, deal)
        assert row is not None
        row.close_date = NOW.date() + timedelta(days=30)
    await check(world, deals=(deal,))
    async with unit_of_work(runtime.sessions) as session:
        rows = (await session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id)))).all()
    assert [(r.event, r.payload["data"]["entity_id"]) for r in rows] == [
        ("hygiene.issue_opened", deal),
        ("hygiene.issue_closed", deal),
    ]
