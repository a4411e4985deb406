"""The manager digest's content, its chart, and ``/crm digest``, through the real paths.

Leads come from captured mail, deals from the deal service, feedback from a button press;
messages go out through the real outbox poster to the fake Slack Web API over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import func, select

from bot.app import create_web_client
from bot.config import AppConfig
from bot.digest import send_digest_now, send_due_digests, slack_client
from bot.flows import apply_feedback, capture
from bot.outbox import OutboxPoster, SlackTransport
from bot.runtime import Runtime, close_runtime, open_runtime
from handlers.mail_capture import email_input
from models.db import unit_of_work
from models.feedback import Feedback
from models.hygiene import HygieneIssue
from models.jobs import JobRun
from models.nudge import Nudge
from models.services.deals import upsert_deal
from models.services.digest import audience_for, build_digest, user_by_slack_id
from models.services.feedback import ButtonIn
from models.workspace import User
from tests.conftest import INTERNAL_DOMAIN, NOW, REP, make_settings
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi, SlackCall
from tests.hygiene_world import add_contact, check, make_world, with_rules
from tests.mail_factory import LEAD, eager_thread
from tests.slack_requests import crm_answer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MANAGER = REP.model_copy(
    update={"slack_id": "U0MGR01", "email": f"mia.moreno@{INTERNAL_DOMAIN}", "name": "Mia Moreno",
            "role": "manager"}
)  # fmt: skip
TEAM_REP = REP.model_copy(update={"manager": MANAGER.slack_id})
BERLIN = REP.model_copy(
    update={"slack_id": "U0MGR02", "email": f"jonas.weber@{INTERNAL_DOMAIN}", "name": "Jonas Weber",
            "role": "manager", "tz": "Europe/Berlin"}
)  # fmt: skip
OTHER = REP.model_copy(
    update={"slack_id": "U0REP03", "email": f"olu.ade@{INTERNAL_DOMAIN}", "name": "Olu Ade",
            "manager": BERLIN.slack_id}
)  # fmt: skip
ADMIN = REP.model_copy(
    update={"slack_id": "U0ADM01", "email": f"ash.admin@{INTERNAL_DOMAIN}", "name": "Ash Admin",
            "role": "admin", "tz": "UTC"}
)  # fmt: skip
STALE_DEAL = "Initech <!here> renewal"


class Clock:
    """Wall-clock time that moves only when a test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """The runtime's clock, at :data:`NOW` until moved."""
    return Clock(NOW)


@pytest.fixture
async def team_runtime(
    database_url: str, app_config: AppConfig, fake: FakeSlackApi, clock: Clock
) -> AsyncIterator[Runtime]:
    """Nudge with two managers (New York, Berlin), their reps and an admin, Slack faked."""
    crm = app_config.crm.model_copy(update={"team": (MANAGER, TEAM_REP, BERLIN, OTHER, ADMIN)})
    runtime = await open_runtime(
        make_settings(database_url, slack_api_url=fake.base_url),
        AppConfig(slack=app_config.slack, crm=crm),
        clock=clock,
    )
    yield runtime
    await close_runtime(runtime)


async def user(runtime: Runtime, slack_id: str) -> User:
    """A team member by Slack id."""
    async with unit_of_work(runtime.sessions) as session:
        found = await user_by_slack_id(
            session=session, workspace_id=runtime.workspace_id, slack_user_id=slack_id
        )
    assert found is not None
    return found


async def seed_team(runtime: Runtime) -> None:
    """A hot lead with feedback, a healthy deal, a stale overdue deal, hygiene, another team."""
    for raw in eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2)):
        await capture(runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))
    async with unit_of_work(runtime.sessions) as session:
        lead_nudge = (await session.exec(select(Nudge).where(Nudge.cause == "hot_lead"))).one()
    assert lead_nudge.id is not None
    assert lead_nudge.contact_id is not None
    assert await apply_feedback(runtime, ButtonIn(lead_nudge.id, REP.slack_id, True))
    async with unit_of_work(runtime.sessions) as session:
        # the feedback service stamps wall-clock time; the digest is reckoned at NOW
        for row in (await session.exec(select(Feedback))).all():
            row.created_at = NOW - timedelta(hours=1)
            session.add(row)
    rep, other = await user(runtime, REP.slack_id), await user(runtime, OTHER.slack_id)
    async with unit_of_work(runtime.sessions) as session:
        deals = {}
        for external_id, name, contact_id, owner, age, closes in (
            ("D1", "Globex expansion", lead_nudge.contact_id, rep, 5, 30),
            ("D2", STALE_DEAL, None, rep, 40, -3),
            ("D3", "Umbrella pilot", None, other, 60, 20),
        ):
            deals[external_id] = await upsert_deal(
                session=session, workspace_id=runtime.workspace_id, external_id=external_id,
                name=name, account_id=None, contact_id=contact_id, owner_id=owner.id,
                stage="Proposal", amount=12000.0, created_at=NOW - timedelta(days=age),
                close_date=(NOW + timedelta(days=closes)).date(), actor="test",
            )  # fmt: skip
        for external_id, closed in (("D2", None), ("D1", NOW)):
            deal_id = deals[external_id].id
            assert deal_id is not None
            session.add(
                HygieneIssue(
                    workspace_id=runtime.workspace_id, rule="missing_next_step",
                    entity_type="deal", entity_id=deal_id, owner_id=rep.id, message="check",
                    closed_at=closed,
                )
            )  # fmt: skip


async def digest_for(runtime: Runtime, slack_id: str) -> dict[str, Any]:
    """The digest payload the service builds for this team member now."""
    member = await user(runtime, slack_id)
    async with unit_of_work(runtime.sessions) as session:
        audience = await audience_for(session=session, user=member)
        return await build_digest(
            session=session, audience=audience, config=runtime.config.crm, now=NOW,
            today=NOW.date(),
        )  # fmt: skip


async def post_outbox(runtime: Runtime, fake: FakeSlackApi) -> int:
    """Run the real poster once against the fake; how many messages went out."""
    client = create_web_client(BOT_TOKEN, fake.base_url)
    poster = OutboxPoster(runtime.sessions, SlackTransport(client), pace_s=0)
    return await poster.run_once(now=runtime.clock())


def digests_posted(fake: FakeSlackApi) -> list[SlackCall]:
    """Digest messages the fake received, recognised by their header block."""
    return [
        call
        for call in fake.calls_to("chat.postMessage")
        if not call.failed and call.params["blocks"][0]["type"] == "header"
    ]


async def test_a_managers_digest_covers_their_team_only(team_runtime: Runtime) -> None:
    await seed_team(team_runtime)
    digest = await digest_for(team_runtime, MANAGER.slack_id)
    assert digest["scope"] == "team"
    assert digest["team_size"] == 2
    hot = digest["hot_leads"]
    assert hot["total"] == 1
    (lead,) = hot["items"]
    assert (lead["name"], lead["owner"]) == (LEAD[0], REP.slack_id)
    assert lead["score"] >= team_runtime.config.crm.scoring.hot
    assert lead["reason"]
    assert digest["at_risk"]["total"] == 1
    (risky,) = digest["at_risk"]["items"]
    assert risky["name"] == STALE_DEAL
    assert risky["reasons"] == ["no activity for 40 days", "close date passed (2026-11-17)"]
    (hygiene,) = digest["hygiene"]
    assert (hygiene["owner"], hygiene["open_issues"], hygiene["records"]) == (REP.slack_id, 1, 3)
    assert hygiene["clean_share"] == pytest.approx(2 / 3)
    assert digest["feedback"] == {
        "right": 1,
        "wrong": 0,
        "by_user": [{"user": REP.slack_id, "right": 1, "wrong": 0}],
    }
    assert digest["model"]["version"] == team_runtime.scorer.version
    assert digest["pipeline"] == [{"stage": "Proposal", "count": 2, "amount": 24000.0}]
    assert sum(digest["score_bins"]) == 1


async def test_an_admin_sees_everyone_and_a_rep_their_own(team_runtime: Runtime) -> None:
    await seed_team(team_runtime)
    admin = await digest_for(team_runtime, ADMIN.slack_id)
    assert admin["scope"] == "everyone"
    assert sorted(d["name"] for d in admin["at_risk"]["items"]) == [STALE_DEAL, "Umbrella pilot"]
    berlin = await digest_for(team_runtime, BERLIN.slack_id)
    assert [d["name"] for d in berlin["at_risk"]["items"]] == ["Umbrella pilot"]
    assert berlin["hot_leads"]["total"] == 0
    assert berlin["feedback"]["right"] == 0
    own = await digest_for(team_runtime, REP.slack_id)
    assert own["scope"] == "own"
    assert own["hot_leads"]["total"] == 1


async def test_hygiene_by_rep_counts_a_record_once_however_many_its_issues(
    team_runtime: Runtime,
) -> None:
    with_rules(team_runtime, {"rule": "contact_details", "required": ["email", "phone"]})
    world = await make_world(team_runtime)
    bare = await add_contact(world, "Bo Bare")  # no email, no phone: two issues
    full = await add_contact(world, "Cy Full", email="cy@globex.example", phone="+14155550100")
    await check(world, contacts=(bare, full))
    (row,) = (await digest_for(team_runtime, MANAGER.slack_id))["hygiene"]
    assert row == {"owner": REP.slack_id, "open_issues": 2, "records": 2, "clean_share": 0.5}
    assert (await digest_for(team_runtime, BERLIN.slack_id))["hygiene"] == []


async def test_the_digest_message_carries_its_uploaded_chart(
    team_runtime: Runtime, fake: FakeSlackApi
) -> None:
    await seed_team(team_runtime)
    assert await send_digest_now(team_runtime, slack_client(team_runtime), MANAGER.slack_id)
    await post_outbox(team_runtime, fake)
    methods = [c.method for c in fake.calls if c.method.startswith("files.")]
    assert methods == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    (complete,) = fake.calls_to("files.completeUploadExternal")
    assert "channel_id" not in complete.params
    assert "channels" not in complete.params
    (file_id,) = fake.uploads
    assert fake.uploads[file_id].startswith(PNG_SIGNATURE)
    (message,) = digests_posted(fake)
    assert message.params["channel"] == MANAGER.slack_id
    blocks = message.params["blocks"]
    images = [b for b in blocks if b["type"] == "image"]
    assert images
    assert images[0]["slack_file"] == {"id": file_id}
    assert blocks[-1]["type"] == "context"
    assert "Automated by Nudge" in str(blocks[-1])
    rendered = str(blocks)
    assert LEAD[0] in rendered
    assert "Initech &lt;!here&gt; renewal" in rendered
    assert "<!here>" not in rendered
    assert "<!here>" not in str(message.params["text"])
    assert f"<@{REP.slack_id}>" in rendered


async def test_a_failed_upload_still_sends_the_digest(
    team_runtime: Runtime, fake: FakeSlackApi
) -> None:
    await seed_team(team_runtime)
    fake.fail("files.getUploadURLExternal", status=400, error="invalid_arguments")
    assert await send_digest_now(team_runtime, slack_client(team_runtime), MANAGER.slack_id)
    await post_outbox(team_runtime, fake)
    (message,) = digests_posted(fake)
    assert not [b for b in message.params["blocks"] if b["type"] == "image"]


async def test_a_chart_slack_refuses_is_left_out_and_the_digest_still_goes(
    team_runtime: Runtime, fake: FakeSlackApi
) -> None:
    await seed_team(team_runtime)
    await post_outbox(team_runtime, fake)  # the lead's nudge and its confirmation
    before = len(fake.calls_to("chat.postMessage"))
    assert await send_digest_now(team_runtime, slack_client(team_runtime), MANAGER.slack_id)
    fake.fail("chat.postMessage", status=200, error="invalid_blocks")
    await post_outbox(team_runtime, fake)
    refused, accepted = fake.calls_to("chat.postMessage")[before:]
    assert refused.failed
    assert [b["type"] for b in refused.params["blocks"]].count("image") == 1
    assert not accepted.failed
    assert "image" not in [b["type"] for b in accepted.params["blocks"]]
    assert "the chart could not be shown" in str(accepted.params["blocks"])


async def _ask(runtime: Runtime, fake: FakeSlackApi, user_id: str, text: str) -> str:
    answer = await crm_answer(runtime, fake, text, user_id=user_id)
    assert answer["response_type"] == "ephemeral"
    return str(answer["text"])


async def test_crm_digest_sends_now_without_using_the_daily_run(
    team_runtime: Runtime, fake: FakeSlackApi, clock: Clock
) -> None:
    await seed_team(team_runtime)
    clock.now = datetime(2026, 11, 20, 13, 45, tzinfo=NOW.tzinfo)  # 08:45 in New York
    assert "your team's" in await _ask(team_runtime, fake, MANAGER.slack_id, "digest")
    assert "your own records'" in await _ask(team_runtime, fake, REP.slack_id, "digest")
    assert "not on the sales team" in await _ask(team_runtime, fake, "U0STRANGER", "digest")
    assert "takes no arguments" in await _ask(team_runtime, fake, MANAGER.slack_id, "digest x")
    await post_outbox(team_runtime, fake)
    assert [c.params["channel"] for c in digests_posted(fake)] == [
        MANAGER.slack_id,
        REP.slack_id,
    ]
    titles = [c.params["blocks"][0]["text"]["text"] for c in digests_posted(fake)]
    assert titles == ["Digest for your team · 2026-11-20", "Digest for your records · 2026-11-20"]
    async with unit_of_work(team_runtime.sessions) as session:
        runs = (await session.exec(select(func.count()).select_from(JobRun))).one()
    assert runs == 0
    assert await send_due_digests(team_runtime) == 2  # New York's manager and the admin (UTC)
