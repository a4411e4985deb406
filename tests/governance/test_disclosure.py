"""C5.5: every message the bot can send says it is automated.

Each outbox kind in ``RENDERERS`` needs a representative sample below, and every ``/crm``
verb is asked with no arguments: a new kind or verb without the disclosure fails here,
and so does a new kind nobody gave a sample for. Then a sales world is walked through the
real Bolt app (lookups, every verb and its refusal, buttons, the fix modal, App Home, the
nudges posted), and every message and view the fake Slack receives must carry the label.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import select

import bot.app  # noqa: F401  (imports every surface, so every verb is registered)
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.blocks import AUTOMATED, FEEDBACK_ACTIONS, FIX_DATA, RENDERERS, render_nudge
from handlers.blocks_merge import MERGE_ACTIONS
from handlers.slack.verbs import VERBS
from models.db import unit_of_work
from models.hygiene import HygieneIssue
from models.nudge import Nudge
from models.services.roles import grant_role
from tests.conftest import REP, make_settings
from tests.fakes.slack_api import FakeSlackApi
from tests.nudge_world import make_poster
from tests.property.test_render_property import deal_payload, hot_lead
from tests.slack.conftest import app_config  # noqa: F401  (the whole team)
from tests.slack.world import ADMIN, OUTSIDER, REP2, ask, build_world, open_home, press
from tests.slack_requests import crm_answer


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake, so the poster posts there."""
    return make_settings(database_url, slack_api_url=fake.base_url)


DEAL = deal_payload("Globex pilot", "Globex", "Proposal")
SAMPLES: dict[str, dict[str, Any]] = {
    "hot_lead": hot_lead().payload,
    "feedback_ack": {"user": REP.slack_id, "signal": "fire", "label": True, "removed": False,
                     "before": 60, "after": 66, "model_version": 4},
    "feedback_alert": {"user": REP.slack_id, "burst": 25,
                       "one_sided": {"label": False, "run": 10}},
    "stale_deal": {"deal": DEAL, "idle_days": 20, "last_activity": "2026-10-30T10:00:00+00:00",
                   "stale_days": 14},
    "meeting_prep": {"deal": DEAL, "issues": [{"rule": "amount", "message": "no amount"}],
                     "meeting": {"at": "2026-11-22T02:00:00+00:00", "tz": "UTC",
                                 "subject": "Pilot review"}},
    "data_incomplete": {"state": "open", "entity_type": "deal", "entity_id": 3,
                        "record": "Globex pilot", "problem": "has no amount", "issue_id": 9,
                        "rule": "deal.amount"},
    "merge_proposal": {"proposal_id": 5, "score": 0.93, "evidence": {"name": 0.97},
                       "contacts": [{"name": "Ana Silva", "emails": ["ana@globex.example"]},
                                    {"name": "Ana Silva", "emails": ["asilva@globex.example"]}]},
    "digest": {
        "scope": "team", "date": "2026-11-20",
        "hot_leads": {"total": 1, "items": [{"name": "Ana Silva", "company": "Globex",
                                             "score": 91, "owner": REP.slack_id,
                                             "reason": "visited pricing"}]},
        "at_risk": {"total": 1, "items": [{"name": "Globex pilot", "stage": "Proposal",
                                           "amount": 1000.0, "owner": REP.slack_id,
                                           "reasons": ["no activity in 20 days"]}]},
        "hygiene": [{"owner": REP.slack_id, "open_issues": 2, "clean_share": 0.8,
                     "records": 10}],
        "model": {"version": 4, "accuracy": 0.8, "auc": 0.81, "low_confidence": False,
                  "evaluated": 20, "outcomes": 25, "drift_recent": [], "drift_total": 0},
        "feedback": {"right": 3, "wrong": 1, "by_user": [{"user": REP.slack_id, "right": 3,
                                                          "wrong": 1}]},
    },
}  # fmt: skip


def _discloses(blocks: list[dict[str, Any]]) -> bool:
    last = blocks[-1]
    return last.get("type") == "context" and AUTOMATED in json.dumps(last, ensure_ascii=False)


def test_every_outbox_kind_has_a_sample_and_says_it_is_automated() -> None:
    assert set(SAMPLES) == set(RENDERERS), "give each new nudge kind a sample here"
    for n, (cause, payload) in enumerate(sorted(SAMPLES.items())):
        nudge = Nudge(id=n + 1, workspace_id=1, cause=cause, dedupe_key=f"{cause}:x",
                      channel="D0REP01", payload=payload)  # fmt: skip
        _text, blocks = render_nudge(nudge)
        assert _discloses(blocks), cause


async def test_every_crm_verb_answers_with_the_disclosure(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessions) as session:
        await grant_role(session=session, workspace_id=runtime.workspace_id, actor="cli",
                         slack_user_id=REP.slack_id, role="admin",
                         config=runtime.config.crm)  # fmt: skip
    assert {"help", "audit", "role", "forget"} <= set(VERBS)
    for name, chosen in sorted(VERBS.items()):
        _text, blocks = await chosen.handler(runtime, REP.slack_id, "")
        assert _discloses(blocks), name


async def _lead_nudge(runtime: Runtime) -> Nudge:
    """The hot-lead nudge about Ana, once the poster has sent it."""
    await make_poster(runtime).run_once()
    async with unit_of_work(runtime.sessions) as session:
        query = select(Nudge).where(Nudge.cause == "hot_lead", Nudge.state == "sent")
        return (await session.exec(query)).first() or pytest.fail("no hot-lead nudge was sent")


async def _issue_id(runtime: Runtime) -> str:
    async with unit_of_work(runtime.sessions) as session:
        return str((await session.exec(select(HygieneIssue.id))).first())


def _received(fake: FakeSlackApi) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every message and view Slack received from Nudge, with its blocks."""
    found = [(c.method, c.params.get("blocks") or []) for c in fake.calls
             if c.method in ("response_url", "chat.postMessage", "chat.update")]  # fmt: skip
    found += [(c.method, c.params["view"]["blocks"]) for c in fake.calls
              if c.method in ("views.open", "views.publish", "views.update")]  # fmt: skip
    return found


async def test_every_answer_slack_receives_says_it_is_automated(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    world = await build_world(runtime)
    nudge = str((await _lead_nudge(runtime)).id)
    for command, text in [
        ("/lead", "ana silva"),
        ("/lead", "globex"),
        ("/lead", "zebra"),
        ("/deal", "globex"),
        ("/deal", "zebra"),
        ("/pipeline", ""),
    ]:
        await ask(runtime, fake, command, text)
    for verb in sorted(VERBS):
        await crm_answer(runtime, fake, verb, user_id=ADMIN.slack_id)
        await crm_answer(runtime, fake, verb, user_id=OUTSIDER)
    for action, value, user in [
        (FEEDBACK_ACTIONS[0], nudge, REP2.slack_id), (FEEDBACK_ACTIONS[1], "999999", REP.slack_id),
        ("nudge_snooze_day", nudge, REP2.slack_id), ("nudge_snooze_week", "999999", REP.slack_id),
        ("nudge_mark_contacted", nudge, REP2.slack_id), (MERGE_ACTIONS[0], "999999", REP.slack_id),
        (FIX_DATA, await _issue_id(runtime), REP2.slack_id), ("open_profile", str(world.ana),
                                                               REP.slack_id),
    ]:  # fmt: skip
        await press(runtime, fake, action, value, user=user)
    await open_home(runtime, fake, REP.slack_id, "EvHomeDisclosure")
    await fake.wait_for("views.publish")
    await make_poster(runtime).run_once()

    received = _received(fake)
    kinds = {method for method, _blocks in received}
    assert {"response_url", "chat.postMessage", "views.publish"} <= kinds
    assert [method for method, blocks in received if not blocks or not _discloses(blocks)] == []


async def test_merge_answers_without_a_proposal_say_they_are_automated(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    answer = await press(runtime, fake, MERGE_ACTIONS[1], "not-a-number")
    assert answer is not None
    assert _discloses(answer.get("blocks") or [{}])


async def test_a_verdict_on_a_lead_you_cannot_see_says_so(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    await build_world(runtime)
    nudge = str((await _lead_nudge(runtime)).id)

    hidden = await press(runtime, fake, FEEDBACK_ACTIONS[0], nudge, user=REP2.slack_id)
    gone = await press(runtime, fake, FEEDBACK_ACTIONS[0], "999999")

    assert hidden is not None
    assert gone is not None
    assert "you can't see this lead" in hidden["text"]
    assert "already gave this verdict" not in hidden["text"]
    assert "already gave this verdict, or the nudge is gone" in gone["text"]
    assert _discloses(hidden["blocks"])
