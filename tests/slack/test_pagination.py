"""`/pipeline` and a long `/lead` timeline page through with Previous / Next: signed slash
commands and signed button presses to the real Bolt app, answers read from the response URL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from sqlmodel import select

from bot.flows import capture
from bot.runtime import Runtime
from handlers.mail_capture import email_input
from models.db import unit_of_work
from models.services.deals import upsert_deal
from models.workspace import User
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.fakes.slack_api import FakeSlackApi
from tests.mail_factory import LEAD, message
from tests.slack.world import MANAGER, OUTSIDER, REP2, ask, build_world, press

STAGES = ("Discovery", "Proposal", "Negotiation")
_DEAL = re.compile(r"\*(Deal \d\d|Globex expansion|Initech pilot)\*")


def _text(answer: dict[str, Any]) -> str:
    return f"{answer.get('text', '')}\n{json.dumps(answer.get('blocks', []), ensure_ascii=False)}"


def _sections(answer: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]


def _page_buttons(answer: dict[str, Any]) -> dict[str, str]:
    return {
        element["action_id"]: element["value"]
        for block in answer["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


def _deals(answer: dict[str, Any]) -> list[str]:
    """The deals listed on a pipeline page, in order."""
    return [name for text in _sections(answer) for name in _DEAL.findall(text)]


def _timeline(answer: dict[str, Any]) -> list[str]:
    """The timeline lines on a page, in order."""
    lines = [line for text in _sections(answer) for line in text.split("\n")]
    return [line for line in lines if line.startswith("• ") and "_via" in line]


async def _add_deals(runtime: Runtime, count: int) -> None:
    """Open deals of Dana's spread over three stages: ``Deal 00`` is worth 1,000, ``Deal 01``
    2,000, and so on."""
    async with unit_of_work(runtime.sessions) as session:
        query = select(User.id).where(User.slack_user_id == REP.slack_id)
        owner = (await session.exec(query)).one()
        for n in range(count):
            await upsert_deal(
                session=session, workspace_id=runtime.workspace_id, external_id=f"P-{n}",
                name=f"Deal {n:02d}", account_id=None, contact_id=None, owner_id=owner,
                stage=STAGES[n % 3], amount=1000.0 * (n + 1), created_at=NOW, actor="test",
            )  # fmt: skip


async def test_a_long_pipeline_pages_through_with_next_and_previous(runtime: Runtime) -> None:
    await build_world(runtime)
    await _add_deals(runtime, 22)  # with Globex expansion, Dana has 23 open deals
    async with FakeSlackApi() as fake:
        first = await ask(runtime, fake, "/pipeline", "")
        second = await press(runtime, fake, "page_next", _page_buttons(first)["page_next"])
        third = await press(runtime, fake, "page_next", _page_buttons(second or {})["page_next"])
        back = await press(runtime, fake, "page_previous",
                           _page_buttons(second or {})["page_previous"])  # fmt: skip
    assert second is not None
    assert third is not None
    assert back is not None
    assert first["text"] == "Your pipeline: 23 open deals · 301,000"
    assert _deals(first) == [
        "Deal 21", "Deal 18", "Deal 15", "Deal 12", "Deal 09", "Deal 06", "Deal 03", "Deal 00",
        "Globex expansion", "Deal 19",
    ]  # fmt: skip
    assert "By stage: Discovery 8 · Proposal 8 · Negotiation 7" in _text(first)
    assert "*Proposal* — 8 deals · 125,000" in _text(first)
    pages = [_deals(first), _deals(second), _deals(third)]
    assert [len(page) for page in pages] == [10, 10, 3]
    every = [f"Deal {n:02d}" for n in range(22)] + ["Globex expansion"]
    assert sorted(name for page in pages for name in page) == sorted(every)
    assert [sorted(_page_buttons(a)) for a in (first, second, third)] == [
        ["page_next"], ["page_next", "page_previous"], ["page_previous"]
    ]  # fmt: skip
    assert "deals 11–20 of 23" in _text(second)
    assert _deals(back) == pages[0]
    for answer in (second, third, back):
        assert answer["response_type"] == "ephemeral"
        assert answer["replace_original"] is True
        assert "Automated by Nudge" in json.dumps(answer["blocks"][-1], ensure_ascii=False)


async def test_a_short_pipeline_has_no_page_buttons(runtime: Runtime) -> None:
    await build_world(runtime)
    async with FakeSlackApi() as fake:
        answer = await ask(runtime, fake, "/pipeline", "")
    assert _page_buttons(answer) == {}
    assert _deals(answer) == ["Globex expansion"]


async def test_each_page_is_checked_against_the_presser(runtime: Runtime) -> None:
    await build_world(runtime)
    await _add_deals(runtime, 22)
    dana = f"<@{REP.slack_id}|dana>"
    async with FakeSlackApi() as fake:
        first = await ask(runtime, fake, "/pipeline", dana, user=MANAGER.slack_id)
        value = _page_buttons(first)["page_next"]
        manager = await press(runtime, fake, "page_next", value, user=MANAGER.slack_id)
        other_rep = await press(runtime, fake, "page_next", value, user=REP2.slack_id)
        guest = await press(runtime, fake, "page_next", value, user=OUTSIDER)
        forged = await press(runtime, fake, "page_next", "pipeline:two:")
    assert value == f"pipeline:2:<@{REP.slack_id}>"
    assert manager is not None
    assert other_rep is not None
    assert guest is not None
    assert forged is not None
    assert len(_deals(manager)) == 10
    assert "You may see your own pipeline only" in other_rep["text"]
    assert not _deals(other_rep)
    assert "not on the Nudge team yet" in guest["text"]
    assert "points nowhere" in forged["text"]


async def _mail_from_ana(runtime: Runtime, count: int) -> None:
    for n in range(count):
        raw = message(
            message_id=f"question-{n}@globex.example", sender=LEAD, to=(REP.name, REP.email),
            sent_at=NOW - timedelta(hours=n + 1), subject=f"Question {n}", body="One more thing.",
        )  # fmt: skip
        await capture(runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))


async def test_a_long_timeline_pages_from_the_profile_card(runtime: Runtime) -> None:
    world = await build_world(runtime)
    await _mail_from_ana(runtime, 5)  # 8 emails in the thread and these 5: 13 on her timeline
    async with FakeSlackApi() as fake:
        card = await ask(runtime, fake, "/lead", "ana silva")
        older = await press(runtime, fake, "page_next", _page_buttons(card)["page_next"])
        back = await press(runtime, fake, "page_previous",
                           _page_buttons(older or {})["page_previous"])  # fmt: skip
        refused = await press(runtime, fake, "page_next", _page_buttons(card)["page_next"],
                              user=REP2.slack_id)  # fmt: skip
        await press(runtime, fake, "open_profile", str(world.ana),
                    container={"type": "view", "view_id": "V0001"})  # fmt: skip
        (modal,) = await fake.wait_for("views.open")
    assert older is not None
    assert back is not None
    assert refused is not None
    assert _page_buttons(card)["page_next"] == f"timeline:2:{world.ana}"
    assert "*Timeline* (newest first, 1–10 of 13)" in _text(card)
    assert "*Timeline* (newest first, 11–13 of 13)" in _text(older)
    first, second = _timeline(card), _timeline(older)
    assert (len(first), len(second)) == (10, 3)
    assert sum("Question" in line for line in first) == 5
    assert max(line[2:12] for line in second) <= min(line[2:12] for line in first)
    assert sorted(_page_buttons(older)) == ["page_previous"]
    assert "*Ana Silva* — VP of Sales" in _text(back)
    assert _timeline(back) == first
    assert "You can't see this lead" in refused["text"]
    assert "Ana" not in _text(refused)
    shown = json.dumps(modal.params["view"]["blocks"], ensure_ascii=False)
    assert "1–10 of 13" in shown
    assert "page_next" not in shown
