"""``/crm forget`` and ``nudge purge``: nothing about the person is left anywhere afterwards.

The check is generic: every text, JSON and binary column of every table is searched for the
person's email, name and phone, so a table added later is covered too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select

from bot.app import create_web_client
from bot.flows import apply_feedback, capture
from bot.governance import erase, export, retract_messages
from bot.logs import configure_logging
from bot.outbox import OutboxPoster
from bot.runtime import Runtime
from learning.store import load_live, replay
from models.activity import Activity, ActivityParticipant, RawItem
from models.contact import ContactIdentity
from models.db import unit_of_work
from models.nudge import Nudge
from models.privacy import SlackRetraction
from models.services.audit import AuditFilter, list_audit, record_audit, verify_chain
from models.services.inputs import ActivityIn, PersonIn
from tests.conftest import NOW, REP
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.learning.test_replay import PROBES, AcceptingSlack, log_rows, react

ANA = PersonIn(email="Ana.Marquez@Globex.example", name="Ana Marquez-Silva",
               phone="+14155550134", title="VP of Sales", company="Globex")  # fmt: skip
BRUNO = PersonIn(email="bruno@initech.example", name="Bruno Keller", title="CTO")
NEEDLES = ("ana.marquez@globex.example", "ana marquez-silva", "4155550134")


def _touches(person: PersonIn, tag: str) -> list[ActivityIn]:
    plan: list[tuple[str, str | None, dict[str, Any]]] = [
        ("email", "outbound", {}), ("email", "inbound", {}),
        ("web", None, {"page": "pricing", "dwell_s": 300}),
        ("web", None, {"page": "pricing", "dwell_s": 240}), ("meeting", None, {}),
    ]  # fmt: skip
    return [
        ActivityIn(source="test", external_id=f"{tag}-{n}", kind=kind, direction=direction,
                   occurred_at=NOW - timedelta(hours=60 - 10 * n), people=(person,),
                   rep_email=REP.email, facts=facts,
                   subject=f"Pricing for {person.name}", body=f"Hi {person.name}, call me",
                   raw=f"From: {person.name} <{person.email}>\r\n\r\nTel {person.phone}".encode())
        for n, (kind, direction, facts) in enumerate(plan)
    ]  # fmt: skip


async def _sent_lead_nudge(runtime: Runtime, email: str) -> Nudge:
    async with unit_of_work(runtime.sessions) as session:
        contact_id = (
            await session.exec(
                select(ContactIdentity.contact_id).where(ContactIdentity.value == email.lower())
            )
        ).one()
        query = select(Nudge).where(
            Nudge.contact_id == contact_id,
            Nudge.state == "sent",
            Nudge.cause == "hot_lead",
            col(Nudge.parent_id).is_(None),
        )
        return (await session.exec(query)).one()


async def assert_live_equals_log(runtime: Runtime) -> None:
    """The live model equals its reload from snapshots and a replay of the remaining log.

    A rebuild takes a new version number, so a bare replay may show an older number until
    the next update; the model itself must be the same.
    """
    live = runtime.scorer
    probes = [*PROBES, *(row.features for row in await log_rows(runtime))]
    async with unit_of_work(runtime.sessions) as session:
        loaded = await load_live(session=session, workspace_id=runtime.workspace_id)
        replayed = await replay(session=session, workspace_id=runtime.workspace_id)
    assert (loaded.version, loaded.outcomes_seen) == (live.version, live.outcomes_seen)
    assert replayed.outcomes_seen == live.outcomes_seen
    for model in (loaded.model, replayed.model):
        for probe in probes:
            assert abs(model.probability(probe) - live.model.probability(probe)) <= 1e-12


async def _mentions(runtime: Runtime) -> list[str]:
    """Every (table.column) whose value contains a needle, over the whole database."""
    found = []
    async with unit_of_work(runtime.sessions) as session:
        for table in SQLModel.metadata.sorted_tables:
            columns = [c for c in table.columns
                       if isinstance(c.type, (String, Text, JSON, LargeBinary))]  # fmt: skip
            if not columns:
                continue
            rows = await session.exec(sa_select(*columns))  # type: ignore[call-overload]
            for row in rows.all():
                for column, value in zip(columns, row, strict=True):
                    blob = isinstance(value, bytes | memoryview)
                    text = (bytes(value).decode("utf-8", "replace") if blob else str(value)).lower()
                    found += [f"{table.name}.{column.name}" for n in NEEDLES if n in text]
    return found


async def test_forgetting_leaves_no_trace_and_unlearns(
    runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG")
    for item in [*_touches(ANA, "ana"), *_touches(BRUNO, "bruno")]:
        assert await capture(runtime, item) == "stored"
    shared = ActivityIn(
        source="test", external_id="both", kind="email", direction="outbound",
        occurred_at=NOW - timedelta(hours=2), people=(ANA, BRUNO), rep_email=REP.email,
        subject=f"Intro: {ANA.name} meets {BRUNO.name}", body=f"Reach {ANA.name} at {ANA.phone}",
        raw=f"To: {ANA.email}, {BRUNO.email}".encode(),
    )  # fmt: skip
    assert await capture(runtime, shared) == "stored"
    await OutboxPoster(runtime.sessions, AcceptingSlack(), pace_s=0).run_once(now=NOW)
    ana_nudge = await _sent_lead_nudge(runtime, ANA.email or "")
    bruno_nudge = await _sent_lead_nudge(runtime, BRUNO.email or "")
    assert await apply_feedback(runtime, react(ana_nudge, "fire")) is not None
    assert await apply_feedback(runtime, react(bruno_nudge, "+1")) is not None
    async with unit_of_work(runtime.sessions) as session:
        await record_audit(session=session, workspace_id=runtime.workspace_id, actor="slack:U1",
                           action="contact.updated", target_type="contact",
                           before={"name": ANA.name}, after={"title": "CEO"})  # fmt: skip
    assert "auditentry.before" in await _mentions(runtime)

    held = await export(runtime, "ana.marquez@globex.example", actor="slack:UADMIN")
    assert held["contacts"][0]["name"] == ANA.name
    assert len(held["activity"]) == 6

    erasure = await erase(runtime, " ANA.MARQUEZ@globex.example ", actor="slack:UADMIN")
    assert erasure.contacts == 1
    assert erasure.retractions >= 1
    assert await _mentions(runtime) == []
    await assert_live_equals_log(runtime)

    async with unit_of_work(runtime.sessions) as session:
        kept = (await session.exec(select(Activity).where(Activity.external_id == "both"))).one()
        people = (await session.exec(select(ActivityParticipant.contact_id).where(
            ActivityParticipant.activity_id == kept.id))).all()  # fmt: skip
        receipts = await list_audit(session=session, query=AuditFilter(action="privacy.erased"))
        assert (await verify_chain(session=session)).ok
    assert len(people) == 1
    assert kept.contact_id == people[0]
    assert receipts[0].after["contacts"] == 1

    async with FakeSlackApi() as fake:
        assert await retract_messages(runtime, create_web_client(BOT_TOKEN, fake.base_url)) >= 1
        deleted = {(c.params["channel"], c.params["ts"]) for c in fake.calls_to("chat.delete")}
    assert (ana_nudge.channel_id, ana_nudge.message_ts) in deleted
    async with unit_of_work(runtime.sessions) as session:
        left = await session.exec(select(SlackRetraction).where(SlackRetraction.state != "done"))
        assert left.all() == []

    again = _touches(ANA, "ana-later")[0]
    assert await capture(runtime, again) != "stored"
    async with unit_of_work(runtime.sessions) as session:  # a webhook body the inbox stored
        body = f'[{{"email": "{ANA.email}"}}, {{"email": "{BRUNO.email}"}}]'.encode()
        inbox = RawItem(
            workspace_id=runtime.workspace_id, source="hubspot", external_id="b1", body=body
        )
        session.add(inbox)
    visit = replace(_touches(ANA, "ana-web")[2], raw=None, raw_item_id=inbox.id)
    assert await capture(runtime, visit) != "stored"
    async with unit_of_work(runtime.sessions) as session:
        stored = await session.get(RawItem, inbox.id)
        assert stored is not None
        assert (BRUNO.email or "").encode() in stored.body
    assert await _mentions(runtime) == []
    printed = capsys.readouterr()
    assert not any(n in (printed.out + printed.err).lower() for n in NEEDLES)
