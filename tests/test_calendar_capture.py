"""Meetings from .ics files and mailed invites, through the one ingestion path, on both DBs."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from sqlalchemy.exc import NoResultFound
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli_calendar import register
from bot.imports import import_ics, import_mail
from bot.runtime import Runtime
from handlers.mail import parse_email
from handlers.mail_files import find_mail
from learning.features import Features, compute_features
from learning.timeline import LeadTimeline
from models.activity import Activity, ActivityParticipant, Quarantine, SkippedItem
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.services.scoring import rescore_contact, touch_of
from models.workspace import User
from tests.conftest import FIXTURES, INTERNAL_DOMAIN, NOW, REP, ROOT

CALENDAR = FIXTURES / "calendar"
DEMO = "7kq2r9v8b1m3globex@google.com"
FOLLOWUP = (
    "040000008200E00074C5B7101A82E0080000000070D9A1B2C3F5DC01"
    "0000000000000000100000001122334455667788990AABBCCDDEEFF0"
)
ANA, RAJ = "ana.silva@globex.example", "raj.patel@globex.example"
KLAUS = "klaus.meyer@initech.example"


def ics(*names: str) -> list[Path]:
    return [CALENDAR / name for name in names]


async def contact_of(runtime: Runtime, email: str) -> Contact:
    async with unit_of_work(runtime.sessions) as session:
        query = (
            select(Contact)
            .join(ContactIdentity, col(ContactIdentity.contact_id) == col(Contact.id))
            .where(ContactIdentity.kind == "email", ContactIdentity.value == email)
        )
        return (await session.exec(query)).one()


async def meeting(runtime: Runtime, external_id: str) -> Activity:
    async with unit_of_work(runtime.sessions) as session:
        query = select(Activity).where(Activity.external_id == external_id)
        return (await session.exec(query)).one()


async def timeline_of(runtime: Runtime, email: str) -> list[Activity]:
    """The contact's activities, as their profile lists them."""
    contact = await contact_of(runtime, email)
    async with unit_of_work(runtime.sessions) as session:
        query = (
            select(Activity)
            .join(ActivityParticipant, col(ActivityParticipant.activity_id) == col(Activity.id))
            .where(ActivityParticipant.contact_id == contact.id)
            .order_by(col(Activity.occurred_at))
        )
        return list((await session.exec(query)).all())


async def features_at(runtime: Runtime, email: str, at: datetime) -> Features:
    """Features of the stored timeline, future meetings included, as of ``at``."""
    touches = tuple(touch_of(a) for a in await timeline_of(runtime, email))
    return compute_features(LeadTimeline(touches=touches), at)


async def everything(runtime: Runtime) -> dict[str, Any]:
    """What capture has stored, in a comparable form."""
    async with unit_of_work(runtime.sessions) as session:
        activities = (await session.exec(select(Activity).order_by(col(Activity.id)))).all()
        pairs = select(ActivityParticipant.activity_id, ActivityParticipant.contact_id)
        links = (await session.exec(pairs)).all()
        return {
            "activities": [
                (a.external_id, a.occurred_at, a.revision, a.facts, a.subject, a.user_id)
                for a in activities
            ],
            "links": sorted(links),
            "contacts": len((await session.exec(select(Contact.id))).all()),
            "quarantine": len((await session.exec(select(Quarantine.id))).all()),
            "skipped": len((await session.exec(select(SkippedItem.id))).all()),
        }


async def test_organizer_attendees_and_answers_land_on_the_contacts(runtime: Runtime) -> None:
    counts = await import_ics(runtime, [CALENDAR])
    # 10 meetings stored or updated and 1 answer merged; the reply's own view of the
    # meeting is older than the reschedule; 2 bad files quarantined
    assert (counts["stored"], counts["duplicate"], counts["quarantined"]) == (10, 1, 2)

    demo = await meeting(runtime, DEMO)
    assert demo.occurred_at == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # rescheduled
    assert demo.revision == 4
    assert demo.facts["rsvp:" + ANA] == "ACCEPTED"
    assert {a["email"]: a["partstat"] for a in demo.facts["attendees"]}[RAJ] == "NEEDS-ACTION"
    async with unit_of_work(runtime.sessions) as session:
        rep = (await session.exec(select(User).where(User.email == REP.email))).one()
    assert demo.user_id == rep.id
    assert (await contact_of(runtime, ANA)).owner_id == rep.id

    assert DEMO in [a.external_id for a in await timeline_of(runtime, ANA)]
    assert DEMO in [a.external_id for a in await timeline_of(runtime, RAJ)]
    klaus = [a.subject for a in await timeline_of(runtime, KLAUS)]  # the outside organizer
    assert klaus == ["Initech Beschaffung – Abstimmung", "Abgesagt: Initech – nächste Schritte"]
    with pytest.raises(NoResultFound):  # a meeting room is no contact
        await contact_of(runtime, "c_1889abcd1234efgh@resource.calendar.google.com")


async def test_reimporting_anything_changes_nothing(runtime: Runtime) -> None:
    await import_ics(runtime, [CALENDAR])
    before = await everything(runtime)
    again = await import_ics(runtime, [CALENDAR])
    assert again["stored"] == 0
    assert again["duplicate"] == 11
    assert await everything(runtime) == before


async def test_an_older_sequence_arriving_late_changes_nothing(runtime: Runtime) -> None:
    await import_ics(runtime, ics("02-google-reschedule.ics", "06-outlook-cancel.ics"))
    late = await import_ics(runtime, ics("01-google-request.ics", "05-outlook-followup.ics"))
    assert (late["stored"], late["duplicate"]) == (0, 2)
    assert (await meeting(runtime, DEMO)).occurred_at == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    assert (await meeting(runtime, FOLLOWUP)).facts["cancelled"] is True


async def test_a_cancel_stops_the_meeting_counting(runtime: Runtime) -> None:
    await import_ics(runtime, ics("04-outlook-request.ics", "05-outlook-followup.ics"))
    booked = await features_at(runtime, KLAUS, NOW)
    assert (booked["meetings_upcoming"], booked["meetings_30d"]) == (1.0, 1.0)

    await import_ics(runtime, ics("06-outlook-cancel.ics"))
    cancelled = [a for a in await timeline_of(runtime, KLAUS) if a.facts["cancelled"]]
    assert [a.facts["method"] for a in cancelled] == ["CANCEL"]
    after = await features_at(runtime, KLAUS, NOW)
    assert (after["meetings_upcoming"], after["meetings_30d"]) == (0.0, 1.0)
    assert after["recency"] == booked["recency"]  # not a touch either


async def test_meetings_feed_the_features_point_in_time(runtime: Runtime) -> None:
    await import_ics(runtime, [CALENDAR])
    ana = await contact_of(runtime, ANA)
    async with unit_of_work(runtime.sessions) as session:
        scored = await rescore_contact(session=session, scorer=runtime.scorer, contact=ana, at=NOW)
    assert scored.features["meetings_30d"] == 1.0  # the all-day workshop on 17 November

    raj = await features_at(runtime, RAJ, NOW)
    assert raj["meetings_30d"] == 2.0  # the series' first check-in and the moved one
    assert raj["meetings_upcoming"] == 1.0  # the rescheduled demo on 1 December
    # on 5 November the demo was not booked yet; the workshop was
    early = await features_at(runtime, ANA, datetime(2026, 11, 5, tzinfo=UTC))
    assert early["meetings_upcoming"] == 1.0
    later = await features_at(runtime, ANA, datetime(2026, 11, 12, tzinfo=UTC))
    assert later["meetings_upcoming"] == 2.0


async def test_the_live_score_sees_a_booked_meeting(runtime: Runtime) -> None:
    await import_ics(runtime, ics("05-outlook-followup.ics"))
    klaus = await contact_of(runtime, KLAUS)
    async with unit_of_work(runtime.sessions) as session:
        scored = await rescore_contact(
            session=session, scorer=runtime.scorer, contact=klaus, at=NOW
        )
    assert scored.features["meetings_upcoming"] == 1.0


async def test_a_reply_alone_creates_the_meeting_and_keeps_the_answer(runtime: Runtime) -> None:
    counts = await import_ics(runtime, ics("03-google-reply-accepted.ics"))
    assert counts["stored"] == 2
    demo = await meeting(runtime, DEMO)
    assert (demo.subject, demo.revision) == ("Acme Insights demo for Globex", 3)
    assert demo.facts["rsvp:" + ANA] == "ACCEPTED"
    assert [a.external_id for a in await timeline_of(runtime, ANA)] == [DEMO]
    await import_ics(runtime, ics("01-google-request.ics"))  # an older SEQUENCE
    assert (await meeting(runtime, DEMO)).facts == demo.facts


async def test_bad_calendar_data_is_quarantined_with_its_neighbours_kept(runtime: Runtime) -> None:
    await import_ics(runtime, ics("09-malformed-events.ics", "10-truncated.ics"))
    async with unit_of_work(runtime.sessions) as session:
        rows = (await session.exec(select(Quarantine).order_by(col(Quarantine.id)))).all()
    assert [(r.source, r.external_id) for r in rows] == [
        ("calendar", "umbrella-bad-date@acme-analytics.example"),
        ("calendar", None),
    ]
    assert rows[0].body == (CALENDAR / "09-malformed-events.ics").read_bytes()
    assert "DTSTART" in rows[0].reason
    assert "unknown time zone 'Mars/Olympus_Mons' in DTSTART" in rows[0].reason
    assert rows[1].reason == "no complete VCALENDAR in the data"
    assert [a.subject for a in await timeline_of(runtime, "mei.chen@umbrella.example")] == [
        "Umbrella discovery call"
    ]


async def test_an_invite_in_mail_is_captured_as_a_meeting(runtime: Runtime, tmp_path: Path) -> None:
    invite = CALENDAR / "invite-internal.eml"
    counts = await import_mail(runtime, find_mail([invite]))
    assert (counts["skipped"], counts["stored"]) == (1, 1)  # internal mail, outside meeting
    (hooli,) = await timeline_of(runtime, "lena.novak@hooli.example")
    assert (hooli.kind, hooli.source, hooli.subject) == ("meeting", "calendar", "Hooli intro")
    assert hooli.occurred_at == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)

    assert (await import_mail(runtime, find_mail([invite])))["duplicate"] == 1
    part = tmp_path / "hooli.ics"
    part.write_bytes(parse_email(invite.read_bytes()).calendar_parts[0])
    assert (await import_ics(runtime, [part]))["duplicate"] == 1  # one meeting, either path


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config naming the team's domain, and a fresh SQLite database, via the environment."""
    document = yaml.safe_load((ROOT / "app.yaml").read_text())
    document["crm"]["internal_domains"] = [INTERNAL_DOMAIN]
    config = tmp_path / "app.yaml"
    config.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("NUDGE_CONFIG", str(config))
    monkeypatch.setenv("NUDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return tmp_path


def test_nudge_import_ics(environment: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    folder = environment / "calendar"
    shutil.copytree(CALENDAR, folder)
    first = CliRunner().invoke(app, ["import-ics", str(folder)])
    assert first.exit_code == 0, first.output
    assert "stored: 10" in first.output
    assert "quarantined: 2" in first.output
    second = CliRunner().invoke(app, ["import-ics", str(folder / "01-google-request.ics")])
    assert second.exit_code == 0, second.output
    assert "duplicate: 1" in second.output
    missing = CliRunner().invoke(app, ["import-ics", str(environment / "nope")])
    assert missing.exit_code == 2
    assert "no such file or folder" in missing.output
