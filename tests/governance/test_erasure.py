"""``/crm forget`` and ``nudge purge``: nothing about the person is left anywhere afterwards.

The check is generic: every text, JSON and binary column of every table is searched for the
person's email, name and phone, plain and as mail encodes them (an RFC 2047 display name,
a quoted-printable body, a phone written "(415) 555-0134"), so a table added later is
covered too. The model must unlearn them: their learning-log rows go, and the live model
equals a replay of what is left and no longer scores as before.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, TypeDecorator
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select

from bot.app import create_web_client
from bot.flows import apply_feedback, capture
from bot.governance import erase, export, retract_messages
from bot.logs import configure_logging
from bot.outbox import OutboxPoster
from bot.runtime import Runtime
from learning.features import Features
from learning.store import load_live, pseudonym, replay
from models.activity import Activity, ActivityParticipant, Quarantine, RawItem
from models.contact import ContactIdentity
from models.db import unit_of_work
from models.learning import LearningLogEntry
from models.nudge import Nudge
from models.privacy import SlackRetraction
from models.services.audit import AuditFilter, list_audit, record_audit, verify_chain
from models.services.inputs import ActivityIn, PersonIn, QuarantineIn
from tests.conftest import NOW, REP
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.learning.test_replay import PROBES, AcceptingSlack, log_rows, react

ANA = PersonIn(email="Ana.Marquez@Globex.example", name="Ana Márquez-Silva",
               phone="+14155550134", title="VP of Sales", company="Globex")  # fmt: skip
BRUNO = PersonIn(email="bruno@initech.example", name="Bruno Keller", title="CTO")


def _encoded_name(name: str) -> str:
    """The name as an RFC 2047 encoded word, as mail clients write non-ASCII names."""
    return f"=?UTF-8?B?{base64.b64encode(name.encode()).decode()}?="


def _quoted_printable(text: str) -> str:
    return "".join(c if c.isascii() else "".join(f"={b:02X}" for b in c.encode()) for c in text)


NEEDLES = ("ana.marquez@globex.example", "ana márquez-silva", "4155550134",
           "(415) 555-0134", _encoded_name(ANA.name or "")[10:-2].lower(),
           _quoted_printable(ANA.name or "").lower())  # fmt: skip


def _mail(sender: PersonIn, about: PersonIn, subject: str) -> bytes:
    """A message from ``sender`` that names ``about`` only in encoded forms."""
    phone = about.phone or ""
    call = f"; call me on ({phone[2:5]}) {phone[5:8]}-{phone[8:]}" if phone else ""
    body = f"Hi, this is {about.name}{call}."
    return (
        f"From: {_encoded_name(sender.name or '')} <{sender.email}>\r\n"
        f"Cc: {_encoded_name(about.name or '')} <{(about.email or '').upper()}>\r\n"
        f"Subject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{_quoted_printable(body)}\r\n"
    ).encode("ascii")


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
                   raw=_mail(person, person, "Pricing"))
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


async def _learned_from(runtime: Runtime, email: str) -> list[LearningLogEntry]:
    """The learning-log rows whose pseudonymous subject is this person's contact."""
    async with unit_of_work(runtime.sessions) as session:
        contact_id = (
            await session.exec(
                select(ContactIdentity.contact_id).where(ContactIdentity.value == email.lower())
            )
        ).one()
    subject = pseudonym(f"contact:{contact_id}", salt=runtime.salt)
    return [row for row in await log_rows(runtime) if row.subject == subject]


def _scores(runtime: Runtime, probes: list[Features]) -> list[float]:
    return [runtime.scorer.model.probability(probe) for probe in probes]


async def _quarantined(runtime: Runtime, person: PersonIn, tag: str) -> int:
    """Mail about the person that could not be read; the quarantine row's id."""
    raw = _mail(BRUNO, person, f"unreadable {tag}")
    assert await capture(runtime, QuarantineIn("email", "no Date header", raw)) == "quarantined"
    async with unit_of_work(runtime.sessions) as session:
        row = (await session.exec(select(Quarantine).where(Quarantine.body == raw))).one()
    assert row.id is not None
    return row.id


async def _mentions(runtime: Runtime) -> list[str]:
    """Every (table.column) whose value contains a needle, over the whole database."""
    found = []
    async with unit_of_work(runtime.sessions) as session:
        for table in SQLModel.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(
                c.type.impl_instance if isinstance(c.type, TypeDecorator) else c.type,
                (String, Text, JSON, LargeBinary))]  # fmt: skip
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
    cc = ActivityIn(
        source="test", external_id="bruno-cc", kind="email", direction="inbound",
        occurred_at=NOW - timedelta(hours=3), people=(BRUNO,), rep_email=REP.email,
        subject="Intro", body="Her direct line is (415) 555-0134", raw=_mail(BRUNO, ANA, "Intro"),
    )  # fmt: skip
    assert await capture(runtime, cc) == "stored"
    ana_quarantined = await _quarantined(runtime, ANA, "ana")
    bruno_quarantined = await _quarantined(runtime, BRUNO, "bruno")
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
    assert {"rawitem.body", "quarantine.body", "activity.body"} <= set(await _mentions(runtime))
    learned = await _learned_from(runtime, ANA.email or "")
    assert learned
    probes = [row.features for row in learned]
    before = _scores(runtime, probes)

    held = await export(runtime, "ana.marquez@globex.example", actor="slack:UADMIN")
    assert held["contacts"][0]["name"] == ANA.name
    assert len(held["activity"]) == 6

    erasure = await erase(runtime, " ANA.MARQUEZ@globex.example ", actor="slack:UADMIN")
    assert erasure.contacts == 1
    assert erasure.retractions >= 1
    assert await _mentions(runtime) == []
    await assert_live_equals_log(runtime)
    subjects = {row.subject for row in learned}
    assert not [row for row in await log_rows(runtime) if row.subject in subjects]
    assert any(abs(a - b) > 1e-9 for a, b in zip(before, _scores(runtime, probes), strict=True))

    async with unit_of_work(runtime.sessions) as session:
        kept = (await session.exec(select(Activity).where(Activity.external_id == "both"))).one()
        people = (await session.exec(select(ActivityParticipant.contact_id).where(
            ActivityParticipant.activity_id == kept.id))).all()  # fmt: skip
        receipts = await list_audit(session=session, query=AuditFilter(action="privacy.erased"))
        assert (await verify_chain(session=session)).ok
        quarantined = (await session.exec(select(Quarantine.id))).all()
        cc_raw = (
            await session.exec(
                select(Activity.raw_item_id).where(Activity.external_id == "bruno-cc")
            )
        ).one()
    assert len(people) == 1
    assert kept.contact_id == people[0]
    assert (ana_quarantined not in quarantined, bruno_quarantined in quarantined) == (True, True)
    assert cc_raw is None
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
