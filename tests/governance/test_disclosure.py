"""C5.5: every message the bot can send says it is automated.

Each outbox kind in ``RENDERERS`` needs a representative sample below, and every ``/crm``
verb is asked with no arguments: a new kind or verb without the disclosure fails here,
and so does a new kind nobody gave a sample for.
"""

from __future__ import annotations

import json
from typing import Any

import bot.app  # noqa: F401  (imports every surface, so every verb is registered)
from bot.runtime import Runtime
from handlers.blocks import AUTOMATED, RENDERERS, render_nudge
from handlers.slack.verbs import VERBS
from models.db import unit_of_work
from models.nudge import Nudge
from models.services.roles import grant_role
from tests.conftest import REP
from tests.property.test_render_property import deal_payload, hot_lead

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
