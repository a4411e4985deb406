"""`/lead`, `/deal`, `/pipeline` and the open buttons, as signed requests to the real Bolt app."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from bot.runtime import Runtime
from handlers.blocks import render_nudge
from models.audit import AuditEntry
from models.db import unit_of_work
from models.nudge import Nudge
from tests.conftest import REP
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.world import (
    ADMIN,
    HOSTILE_NAME,
    HOSTILE_SUBJECT,
    MANAGER,
    OUTSIDER,
    REP2,
    ask,
    build_world,
    press,
)


def _text(answer: dict[str, Any]) -> str:
    """Everything a person would read: fallback text and every block."""
    return f"{answer.get('text', '')}\n{json.dumps(answer.get('blocks', []), ensure_ascii=False)}"


def _buttons(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (b["accessory"]["action_id"], b["accessory"]["value"])
        for b in answer["blocks"]
        if "accessory" in b
    ]


def _assert_private_and_disclosed(answer: dict[str, Any]) -> None:
    assert answer["response_type"] == "ephemeral"
    assert answer["blocks"][-1]["type"] == "context"
    assert "Automated by Nudge" in json.dumps(answer["blocks"][-1])


async def test_lead_with_one_match_shows_the_unified_profile(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with FakeSlackApi() as fake:
        answer = await ask(runtime, fake, "/lead", "ANA SILVA")
    _assert_private_and_disclosed(answer)
    text = _text(answer)
    for expected in (
        "*Ana Silva* — VP of Sales", "Globex", "ana.silva@globex.example", "+14155550134",
        f"<@{REP.slack_id}>", "*Score*", "*Why:*", "replied to 100% of our emails",
        "Globex expansion", "Proposal", "48,000", "Acme Insights for Globex", "_via",
    ):  # fmt: skip
        assert expected in text, expected
    async with unit_of_work(runtime.sessions) as session:
        audit = (await session.exec(select(AuditEntry).where(
            AuditEntry.action == "profile.viewed"))).all()  # fmt: skip
    assert [(a.actor, a.target_id) for a in audit] == [(f"slack:{REP.slack_id}", str(world.ana))]


async def test_lead_by_email_goes_straight_to_the_person(runtime: Runtime) -> None:
    await build_world(runtime)
    async with FakeSlackApi() as fake:
        answer = await ask(runtime, fake, "/lead", "mallory@globex.example")
    assert "*&lt;!channel&gt; Mallory*" in _text(answer)
    assert not _buttons(answer)


async def test_several_matches_offer_a_choice_and_a_button_opens_one(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with FakeSlackApi() as fake:
        choice = await ask(runtime, fake, "/lead", "globex")
        assert "2 leads match “globex”" in choice["text"]
        assert sorted(_buttons(choice)) == sorted(
            [("open_profile", str(world.ana)), ("open_profile", str(world.mallory))]
        )
        opened = await press(runtime, fake, "open_profile", str(world.mallory))
    assert opened is not None
    assert opened["replace_original"] is True
    assert opened["response_type"] == "ephemeral"
    text = _text(opened)
    assert "mallory@globex.example" in text
    assert "*Open data issues*" in text
    assert "has no phone number" in text


async def test_no_match_says_what_was_searched_and_how_to_search(runtime: Runtime) -> None:
    await build_world(runtime)
    async with FakeSlackApi() as fake:
        lead = await ask(runtime, fake, "/lead", "zebra_%")
        deal = await ask(runtime, fake, "/deal", "zebra")
        empty = await ask(runtime, fake, "/lead", "   ")
    assert "No lead you can see matches “zebra_%”" in lead["text"]
    assert "names, email addresses and companies" in lead["text"]
    assert "No deal you can see matches “zebra”" in deal["text"]
    assert "Usage: `/lead" in empty["text"]
    for answer in (lead, deal, empty):
        _assert_private_and_disclosed(answer)


async def test_lead_shows_only_what_the_asker_may_see(runtime: Runtime) -> None:
    await build_world(runtime)
    async with FakeSlackApi() as fake:
        seen = {
            who: _text(await ask(runtime, fake, "/lead", "bob stone", user=who))
            for who in (REP.slack_id, REP2.slack_id, MANAGER.slack_id, ADMIN.slack_id, OUTSIDER)
        }
        manager_sees_team = _text(await ask(runtime, fake, "/lead", "ana", user=MANAGER.slack_id))
    assert "Bob Stone" in seen[REP2.slack_id]  # his owner
    assert "Bob Stone" in seen[ADMIN.slack_id]
    for blind in (REP.slack_id, MANAGER.slack_id, OUTSIDER):  # Sam is not on Morgan's team
        assert "Bob Stone" not in seen[blind]
        assert "visible only to them, their managers and admins" in seen[blind]
    assert "*Ana Silva*" in manager_sees_team


async def test_open_profile_on_a_nudge_answers_the_presser_privately(runtime: Runtime) -> None:
    world = await build_world(runtime)
    in_a_dm = {"type": "message", "message_ts": "1.000001", "channel_id": "D0001",
               "is_ephemeral": False}  # fmt: skip
    async with FakeSlackApi() as fake:
        mine = await press(runtime, fake, "open_profile", str(world.ana), container=in_a_dm)
        refused = await press(runtime, fake, "open_profile", str(world.ana), user=REP2.slack_id,
                              container=in_a_dm)  # fmt: skip
        gone = await press(runtime, fake, "open_profile", "999999", container=in_a_dm)
        broken = await press(runtime, fake, "open_profile", "not-a-number", container=in_a_dm)
    assert mine is not None
    assert refused is not None
    assert gone is not None
    assert broken is not None
    assert mine["replace_original"] is False
    assert mine["response_type"] == "ephemeral"
    assert "*Ana Silva*" in _text(mine)
    assert "You can't see this lead" in refused["text"]
    assert "Ana" not in _text(refused)
    assert "no longer in Nudge" in gone["text"]
    assert "points nowhere" in broken["text"]


async def test_the_open_profile_button_of_a_hot_lead_nudge_works(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with unit_of_work(runtime.sessions) as session:
        query = select(Nudge).where(Nudge.cause == "hot_lead", Nudge.contact_id == world.ana)
        nudge = (await session.exec(query)).one()
    _, blocks = render_nudge(nudge)
    (value,) = [
        element["value"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "open_profile"
    ]
    in_a_dm = {"type": "message", "message_ts": "1.000001", "channel_id": "D0001",
               "is_ephemeral": False}  # fmt: skip
    async with FakeSlackApi() as fake:
        answer = await press(runtime, fake, "open_profile", value, container=in_a_dm)
    assert answer is not None
    assert "*Ana Silva*" in _text(answer)


async def test_open_profile_from_the_home_tab_opens_a_modal(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with FakeSlackApi() as fake:
        await press(runtime, fake, "open_profile", str(world.ana),
                    container={"type": "view", "view_id": "V0001"})  # fmt: skip
        (opened,) = await fake.wait_for("views.open")
    view = opened.params["view"]
    assert view["type"] == "modal"
    assert "*Ana Silva*" in json.dumps(view["blocks"], ensure_ascii=False)
    assert not fake.calls_to("response_url")


async def test_deal_lookups_choices_and_refusals(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with FakeSlackApi() as fake:
        one = await ask(runtime, fake, "/deal", "globex")
        hidden = await ask(runtime, fake, "/deal", "initech")
        several = await ask(runtime, fake, "/deal", "n", user=ADMIN.slack_id)
        opened = await press(runtime, fake, "open_deal", str(world.initech_deal),
                             user=ADMIN.slack_id)  # fmt: skip
        refused = await press(runtime, fake, "open_deal", str(world.initech_deal))
    assert opened is not None
    assert refused is not None
    _assert_private_and_disclosed(one)
    assert "*Globex expansion* (Globex) — Proposal · 48,000" in one["text"] + _text(one)
    assert "*Ana Silva*" in _text(one)
    assert "No deal you can see matches “initech”" in hidden["text"]
    assert sorted(_buttons(several)) == sorted(
        [("open_deal", str(world.globex_deal)), ("open_deal", str(world.initech_deal))]
    )
    assert "*Initech pilot*" in _text(opened)
    assert "Bob Stone" in _text(opened)
    assert "You can't see this deal" in refused["text"]


async def test_pipeline_by_role(runtime: Runtime) -> None:
    await build_world(runtime)
    dana, sam = f"<@{REP.slack_id}|dana>", f"<@{REP2.slack_id}|sam>"
    async with FakeSlackApi() as fake:
        own = await ask(runtime, fake, "/pipeline", "")
        rep_asks_sam = await ask(runtime, fake, "/pipeline", sam)
        team = await ask(runtime, fake, "/pipeline", "", user=MANAGER.slack_id)
        manager_dana = await ask(runtime, fake, "/pipeline", dana, user=MANAGER.slack_id)
        manager_sam = await ask(runtime, fake, "/pipeline", sam, user=MANAGER.slack_id)
        admin_all = await ask(runtime, fake, "/pipeline", "", user=ADMIN.slack_id)
        admin_sam = await ask(runtime, fake, "/pipeline", sam, user=ADMIN.slack_id)
        nobody = await ask(runtime, fake, "/pipeline", "<@U0NOBODY|x>", user=ADMIN.slack_id)
        garbled = await ask(runtime, fake, "/pipeline", "everything please")
        guest = await ask(runtime, fake, "/pipeline", "", user=OUTSIDER)
    assert own["text"] == "Your pipeline: 1 open deal · 48,000"
    assert "*Proposal* — 1 deal · 48,000" in _text(own)
    assert "Initech" not in _text(own)
    assert "You may see your own pipeline only" in rep_asks_sam["text"]
    assert "Initech" not in _text(rep_asks_sam)
    assert team["text"] == "Your team's pipeline: 1 open deal · 48,000"
    assert "Globex expansion" in _text(manager_dana)
    assert "You may see your team's pipeline only" in manager_sam["text"]
    assert admin_all["text"] == "Everyone's pipeline: 2 open deals · 60,000"
    assert "*Discovery* — 1 deal · 12,000" in _text(admin_all)
    assert _text(admin_all).index("Discovery") < _text(admin_all).index("Proposal")
    assert admin_sam["text"].startswith(f"<@{REP2.slack_id}>'s pipeline: 1 open deal")
    assert "isn't on the Nudge team" in nobody["text"]
    assert "Usage: `/pipeline`" in garbled["text"]
    assert "not on the Nudge team yet" in guest["text"]
    for answer in (own, rep_asks_sam, team, manager_sam, admin_all, nobody, garbled, guest):
        _assert_private_and_disclosed(answer)


async def test_hostile_names_and_subjects_are_escaped_in_every_card(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with FakeSlackApi() as fake:
        answers = [
            await ask(runtime, fake, "/lead", "mallory"),
            await ask(runtime, fake, "/lead", "globex"),
            await ask(runtime, fake, "/lead", "<!channel>"),
            await ask(runtime, fake, "/deal", "<!here>"),
        ]
        opened = await press(runtime, fake, "open_profile", str(world.mallory))
    assert opened is not None
    answers.append(opened)
    profile = _text(answers[0])
    assert "&lt;!here&gt; urgent &lt;@U0ADM01&gt;" in profile  # the subject, on the timeline
    for answer in answers:
        text = _text(answer)
        for raw in (HOSTILE_NAME, "<!channel>", "<!here>", "<@U0ADM01>", HOSTILE_SUBJECT):
            assert raw not in text
