"""The App Home: published when opened, republished when something changes for its owner."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlmodel import select

from bot.app import create_web_client
from bot.flows import apply_feedback
from bot.home import HomePublisher, publish_home
from bot.runtime import Runtime
from handlers.blocks import MAX_SECTION
from handlers.blocks_home import MAX_HOME_BLOCKS, render_home
from models.db import unit_of_work
from models.home import HomeState
from models.hygiene import HygieneIssue
from models.nudge import Nudge
from models.services.feedback import ButtonIn
from models.services.home import Confidence, HomeData, HotLead, TeamRow
from models.services.profile_types import IssueView, Person
from tests.conftest import NOW, REP
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.slack.world import HOSTILE_NAME, MANAGER, OUTSIDER, World, build_world, open_home


def _published(fake: FakeSlackApi) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls_to("views.publish") if not c.failed]


def _text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def _publisher(runtime: Runtime, fake: FakeSlackApi) -> HomePublisher:
    return HomePublisher(runtime, create_web_client(BOT_TOKEN, fake.base_url), pace_s=0)


async def _hot_nudge(runtime: Runtime, world: World) -> int:
    async with unit_of_work(runtime.sessions) as session:
        query = select(Nudge.id).where(Nudge.cause == "hot_lead", Nudge.contact_id == world.ana)
        nudge_id = (await session.exec(query)).first()
    assert nudge_id is not None
    return nudge_id


async def test_opening_the_home_publishes_the_reps_dashboard(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with FakeSlackApi() as fake:
        await open_home(runtime, fake, REP.slack_id, "EvHome1")
        (call,) = await fake.wait_for("views.publish")
    assert call.params["user_id"] == REP.slack_id
    view = call.params["view"]
    text = _text(view)
    assert view["type"] == "home"
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS
    assert "*Ana Silva* — Globex" in text
    assert "wrote 4 emails in 7 days" in text
    lead_buttons = [b["accessory"] for b in view["blocks"] if "accessory" in b]
    assert [(b["action_id"], b["value"]) for b in lead_buttons] == [
        ("open_profile", str(world.ana))
    ]
    assert "&lt;!channel&gt; Mallory has no phone number" in text
    assert HOSTILE_NAME not in text
    assert "None yet: react" in text
    assert "low confidence" in text
    assert "Your team" not in text
    assert "Automated by Nudge" in json.dumps(view["blocks"][-1])


async def test_home_is_republished_after_feedback_and_a_fixed_issue(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with FakeSlackApi() as fake:
        publisher = _publisher(runtime, fake)
        assert await publish_home(runtime, publisher.client, REP.slack_id)  # as when opened
        assert await publisher.run_once() == 0  # nothing changed since

        nudge_id = await _hot_nudge(runtime, world)
        learned = await apply_feedback(runtime, ButtonIn(nudge_id, REP.slack_id, label=True))
        assert learned is not None
        assert await publisher.run_once() == 1
        assert await publisher.run_once() == 0

        async with unit_of_work(runtime.sessions) as session:
            issue = (await session.exec(select(HygieneIssue))).one()
            issue.closed_at = NOW
            session.add(issue)
        assert await publisher.run_once() == 1
        first, after_feedback, after_fix = _published(fake)
    assert "None yet: react" in _text(first["view"])
    feedback_text = _text(after_feedback["view"])
    assert f"👍 button (right/hot) on Ana Silva · score {learned.before} → {learned.after}" in (
        feedback_text
    )
    assert "has no phone number" in feedback_text
    assert "Nothing to fix" in _text(after_fix["view"])


async def test_a_managers_home_shows_the_team(runtime: Runtime) -> None:
    await build_world(runtime)
    async with FakeSlackApi() as fake:
        await open_home(runtime, fake, MANAGER.slack_id, "EvHome3")
        (call,) = await fake.wait_for("views.publish")
    text = _text(call.params["view"])
    assert "Your team" in text
    assert f"<@{REP.slack_id}>: 1 hot lead · 1 open data issue (100% of the team's)" in text
    assert "Hot leads (0)" in text


async def test_someone_off_the_team_gets_a_plain_home(runtime: Runtime) -> None:
    await build_world(runtime)
    async with FakeSlackApi() as fake:
        await open_home(runtime, fake, OUTSIDER, "EvHome4")
        (call,) = await fake.wait_for("views.publish")
        assert await _publisher(runtime, fake).run_once() == 0
    assert "not on the Nudge sales team" in _text(call.params["view"])
    assert "Ana" not in _text(call.params["view"])
    async with unit_of_work(runtime.sessions) as session:
        assert not (await session.exec(select(HomeState))).all()


async def test_a_failed_publish_is_retried_after_a_backoff(runtime: Runtime) -> None:
    await build_world(runtime)
    async with FakeSlackApi() as fake:
        fake.fail("views.publish", status=503, times=3)  # the client's own retries fail too
        publisher = _publisher(runtime, fake)
        assert not await publish_home(runtime, publisher.client, REP.slack_id)
        async with unit_of_work(runtime.sessions) as session:
            (state,) = (await session.exec(select(HomeState))).all()
        assert state.attempts == 1
        assert state.signature is None
        assert await publisher.run_once() == 0  # still backing off
        runtime.clock = lambda: NOW + timedelta(minutes=10)
        assert await publisher.run_once() == 1
        assert await publisher.run_once() == 0
        (published,) = _published(fake)
    assert "Ana Silva" in _text(published["view"])


def test_a_crowded_home_stays_within_block_kit_limits() -> None:
    person = Person(user_id=1, slack_user_id="U0MGR01", name="Morgan")
    home = HomeData(
        person=person,
        role="manager",
        hot_leads=[
            HotLead(
                contact_id=n,
                name=f"<!channel> Lead {n}",
                company="X" * 300,
                score=90,
                reasons=["r" * 1400, "s" * 1400],
            )
            for n in range(10)
        ],
        hot_total=250,
        issues=[
            IssueView(
                issue_id=n,
                rule="r",
                entity_type="deal",
                entity_id=n,
                message="m" * 490,
                opened_at=NOW,
            )
            for n in range(10)
        ],
        issues_total=900,
        feedback=[],
        confidence=Confidence(
            model_version=3, outcomes=2, min_outcomes=20, low_confidence=True, accuracy=None
        ),
        team=[
            TeamRow(
                person=Person(user_id=n, slack_user_id=f"U0R{n:05d}", name=f"R{n}"),
                hot_leads=n,
                open_issues=n,
                issue_share=0.01,
            )
            for n in range(60)
        ],
    )
    view = render_home(home)
    blocks = view["blocks"]
    assert len(blocks) <= MAX_HOME_BLOCKS
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(text) <= MAX_SECTION for text in sections)
    text = _text(view)
    assert "…and 240 more" in text
    assert "…and 8" in text  # issues beyond what fits in one section
    assert "…and 40 more" in text  # team members beyond the first 20
    assert "<!channel>" not in text
