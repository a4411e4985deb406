"""Each hygiene rule fires exactly when its condition holds; checks are idempotent; scores."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.runtime import Runtime
from models.contact import Contact
from models.db import unit_of_work
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue, MergeProposal
from models.hygiene_config import HygieneConfig
from models.services.hygiene import RepHygiene, hygiene_scores, insert_issues
from tests.conftest import NOW
from tests.hygiene_world import (
    add_activity,
    add_contact,
    add_deal,
    all_issues,
    check,
    make_world,
    nudges_of,
    open_issues,
    with_rules,
)


async def test_required_fields_per_stage(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "required_fields",
                         "stages": {"Negotiation": ["contact", "amount"]}})  # fmt: skip
    world = await make_world(runtime)
    ana = await add_contact(world, "Ana Silva", email="ana@globex.example")
    bare = await add_deal(world, "Bare", stage="negotiation", amount=None)
    linked = await add_deal(world, "Linked", stage="Negotiation", contacts=(ana,))
    early = await add_deal(world, "Early", stage="Discovery", amount=None)
    won = await add_deal(world, "Won", stage="Negotiation", outcome="won")
    await check(world, deals=(bare, linked, early, won))
    assert await open_issues(world) == {
        ("deal", bare, "required_fields", "contact"),
        ("deal", bare, "required_fields", "amount"),
    }
    (first, second) = await nudges_of(world)
    assert first.payload["problem"] == "is in negotiation with no contact linked"
    assert (first.deal_id, first.channel) == (bare, "U0REP01")
    assert second.payload["detail"] == "amount"


async def test_close_date_in_the_past_on_open_deals_only(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "close_date_past"})
    world = await make_world(runtime)
    late = await add_deal(world, "Late", close_date=NOW.date() - timedelta(days=1))
    today = await add_deal(world, "Today", close_date=NOW.date())
    closed = await add_deal(world, "Lost", close_date=NOW.date() - timedelta(days=9),
                            outcome="lost")  # fmt: skip
    undated = await add_deal(world, "Undated")
    await check(world, deals=(late, today, closed, undated))
    assert await open_issues(world) == {("deal", late, "close_date_past", "")}


async def test_no_activity_on_deals_and_owned_contacts(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "no_activity", "days": 21, "applies_to": ["deal", "contact"]})
    world = await make_world(runtime)
    old = NOW - timedelta(days=40)
    quiet = await add_contact(world, "Quiet", email="q@globex.example", created=old,
                              last_touch=NOW - timedelta(days=22))  # fmt: skip
    busy = await add_contact(world, "Busy", email="b@globex.example", created=old,
                             last_touch=NOW - timedelta(days=3))  # fmt: skip
    unowned = await add_contact(world, "Nobody's", email="n@globex.example", created=old,
                                owned=False)  # fmt: skip
    await add_activity(world, busy, NOW - timedelta(days=3), "busy-1")
    stale = await add_deal(world, "Stale", contacts=(quiet,), created=old)
    lively = await add_deal(world, "Lively", contacts=(busy,), created=old)
    young = await add_deal(world, "Young", created=NOW - timedelta(days=5))
    await check(world, contacts=(quiet, busy, unowned), deals=(stale, lively, young))
    assert await open_issues(world) == {
        ("contact", quiet, "no_activity", ""),
        ("deal", stale, "no_activity", ""),
    }

    # A touch on the quiet contact revives both the contact and its deal.
    await add_activity(world, quiet, NOW - timedelta(hours=1), "quiet-1")
    async with unit_of_work(runtime.sessions) as session:
        contact = await session.get(Contact, quiet)
        assert contact is not None
        contact.last_touch_at = NOW - timedelta(hours=1)
    result = await check(world, contacts=(quiet,))
    assert len(result.closed) == 2
    assert await open_issues(world) == set()


async def test_missing_and_invalid_email_and_phone(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "contact_details", "required": ["email", "phone"]})
    world = await make_world(runtime)
    complete = await add_contact(world, "Complete", email="c@globex.example",
                                 phone="+14155550100")  # fmt: skip
    phoneless = await add_contact(world, "Phoneless", email="p@globex.example")
    broken = await add_contact(world, "Broken", email="broken@localhost", phone="+1123")
    await check(world, contacts=(complete, phoneless, broken))
    found = await open_issues(world)
    assert ("contact", phoneless, "contact_details", "missing_phone") in found
    assert {(t, i, r, d.partition(":")[0]) for t, i, r, d in found} == {
        ("contact", phoneless, "contact_details", "missing_phone"),
        ("contact", broken, "contact_details", "invalid_email"),
        ("contact", broken, "contact_details", "invalid_phone"),
    }


async def test_duplicates_by_name_at_account_and_by_merge_proposal(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "duplicate"})
    world = await make_world(runtime)
    first = await add_contact(world, "José Álvarez", email="jose@globex.example")
    second = await add_contact(world, "  jose   alvarez", email="j.alvarez@globex.example")
    elsewhere = await add_contact(world, "Jose Alvarez", email="jose@gmail.com", account=False)
    await check(world, contacts=(first,))  # the partner is checked too
    assert await open_issues(world) == {("contact", second, "duplicate", f"contact:{first}")}
    assert len(await nudges_of(world)) == 1

    other = await add_contact(world, "Eve Stone", email="eve@globex.example")
    async with unit_of_work(runtime.sessions) as session:
        session.add(MergeProposal(workspace_id=world.workspace_id, contact_a_id=elsewhere,
                                  contact_b_id=other, similarity=0.7))  # fmt: skip
    await check(world, contacts=(elsewhere,))
    assert ("contact", other, "duplicate", f"contact:{elsewhere}") in await open_issues(world)
    assert len(await nudges_of(world)) == 1  # the proposal has its own nudge


async def test_namesakes_told_apart_are_no_duplicate(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "duplicate"})
    world = await make_world(runtime)
    first = await add_contact(world, "Sam Lee", email="sam@globex.example")
    second = await add_contact(world, "Sam Lee", email="sam.lee@globex.example")
    await check(world, contacts=(second,))
    assert await open_issues(world) == {("contact", second, "duplicate", f"contact:{first}")}
    told_apart = MergeProposal(  # "Not the same", or an undone merge
        workspace_id=world.workspace_id, contact_a_id=first, contact_b_id=second,
        similarity=0.9, state="rejected",
    )  # fmt: skip
    async with unit_of_work(runtime.sessions) as session:
        session.add(told_apart)
    await check(world, contacts=(first, second), now=NOW + timedelta(days=1))
    assert await open_issues(world) == set()


async def test_missing_owner(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "missing_owner", "applies_to": ["deal", "contact"]})
    world = await make_world(runtime)
    orphan = await add_contact(world, "Orphan", email="o@globex.example", owned=False)
    owned = await add_contact(world, "Owned", email="w@globex.example")
    lost = await add_deal(world, "Lost", owned=False)
    kept = await add_deal(world, "Kept")
    await check(world, contacts=(orphan, owned), deals=(lost, kept))
    assert await open_issues(world) == {
        ("contact", orphan, "missing_owner", ""),
        ("deal", lost, "missing_owner", ""),
    }
    # Nobody owns them and no team channel is set: the issues are kept, nobody is pinged.
    assert await nudges_of(world) == []


async def test_amount_outliers_need_a_sample(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "amount_outlier", "threshold": 3.5, "min_sample": 10})
    world = await make_world(runtime)
    huge = await add_deal(world, "Huge", amount=5_000_000)
    zero = await add_deal(world, "Zero", amount=0)
    await check(world, deals=(huge, zero))
    assert await open_issues(world) == {("deal", zero, "amount_outlier", "amount")}

    usual = [await add_deal(world, f"D{n}", amount=10_000 + 2_500 * n) for n in range(12)]
    normal = await add_deal(world, "Normal", amount=31_000)
    await check(world, deals=(huge, zero, normal, *usual))
    assert await open_issues(world) == {
        ("deal", zero, "amount_outlier", "amount"),
        ("deal", huge, "amount_outlier", "amount"),
    }
    problem = next(i for i in await all_issues(world) if i.entity_id == huge).message
    assert problem.startswith("has an amount of 5,000,000, far outside the usual")


async def test_rechecks_are_idempotent_and_fixes_close_issues(runtime: Runtime) -> None:
    world = await make_world(runtime)
    deal = await add_deal(world, "Umbrella", stage="Negotiation", owned=False,
                          close_date=NOW.date() - timedelta(days=3))  # fmt: skip
    first = await check(world, deals=(deal,))
    assert {i.rule for i in first.opened} == {"required_fields", "close_date_past",
                                               "missing_owner"}  # fmt: skip
    again = await check(world, deals=(deal,))
    assert (again.opened, again.closed, again.nudges) == ([], [], [])
    assert len(await all_issues(world)) == 3

    ana = await add_contact(world, "Ana", email="ana@globex.example")
    async with unit_of_work(runtime.sessions) as session:
        row = await session.get(Deal, deal)
        assert row is not None
        row.close_date = NOW.date() + timedelta(days=10)
        session.add(DealContact(workspace_id=world.workspace_id, deal_id=deal, contact_id=ana))
    fixed = await check(world, deals=(deal,))
    assert {i.rule for i in fixed.closed} == {"required_fields", "close_date_past"}
    assert {i.resolution for i in fixed.closed} == {"fixed"}
    assert await open_issues(world) == {("deal", deal, "missing_owner", "")}


async def test_turning_a_rule_off_closes_its_issues(runtime: Runtime) -> None:
    world = await make_world(runtime)
    deal = await add_deal(world, "Orphan", owned=False)
    await check(world, deals=(deal,))
    assert await open_issues(world) == {("deal", deal, "missing_owner", "")}
    with_rules(runtime, {"rule": "missing_owner", "enabled": False})
    result = await check(world, deals=(deal,))
    assert [i.resolution for i in result.closed] == ["rule_off"]


async def test_hygiene_scores_share_of_clean_records(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "contact_details", "required": ["phone"]})
    world = await make_world(runtime)
    clean = await add_contact(world, "Clean", email="c@globex.example", phone="+14155550100")
    dirty = await add_contact(world, "Dirty", email="d@globex.example")
    deal = await add_deal(world, "Deal")
    await check(world, contacts=(clean, dirty), deals=(deal,))
    async with unit_of_work(runtime.sessions) as session:
        scores = await hygiene_scores(session, world.workspace_id)
    assert scores == {world.rep_id: RepHygiene(records=3, flagged=1, open_issues=1)}
    assert scores[world.rep_id].share == pytest.approx(2 / 3, abs=1e-3)


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ([{"rule": "no_such_rule"}], "no_such_rule"),
        ([{"rule": "no_activity", "days": 0}], "days"),
        ([{"rule": "no_activity", "dayz": 3}], "dayz"),
        ([{"rule": "duplicate"}, {"rule": "duplicate"}], "listed twice: duplicate"),
        ([{"rule": "required_fields", "stages": {"Demo": ["budget"]}}], "budget"),
        ([{"rule": "amount_outlier", "min_sample": 2}], "min_sample"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_reason(rules: list[object], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HygieneConfig.model_validate({"rules": rules})
    assert words in str(caught.value)


async def test_one_open_issue_per_problem_even_when_two_workers_race(runtime: Runtime) -> None:
    world = await make_world(runtime)
    deal = await add_deal(world, "Orphan", owned=False)
    await check(world, deals=(deal,))
    (theirs,) = await all_issues(world)

    def twin(rule: str) -> HygieneIssue:
        return HygieneIssue(workspace_id=world.workspace_id, entity_type="deal", entity_id=deal,
                            rule=rule, detail="", message="", facts={})  # fmt: skip

    # A worker that had not seen the issue above tries to open it again, beside a new one.
    async with unit_of_work(runtime.sessions) as session:
        opened = await insert_issues(session, [twin("missing_owner"), twin("close_date_past")])
    assert [i.rule for i in opened] == ["close_date_past"]
    assert [i.rule for i in await all_issues(world)] == ["missing_owner", "close_date_past"]
    assert (await all_issues(world))[0].id == theirs.id

    # Closed issues do not count: the same problem may open again later.
    with_rules(runtime, {"rule": "missing_owner", "enabled": False})
    await check(world, deals=(deal,))
    with_rules(runtime, {"rule": "missing_owner"})
    await check(world, deals=(deal,))
    assert [(i.rule, i.is_open) for i in await all_issues(world)] == [
        ("missing_owner", None), ("close_date_past", None), ("missing_owner", True),
    ]  # fmt: skip
