"""Calendar data as meeting inputs: times, people, revisions, replies and bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers.calendar import MAX_SEQUENCE, CalendarInput, meetings_from_ics
from handlers.mail_capture import email_input, email_inputs
from models.services.inputs import ActivityIn, QuarantineIn, SkippedIn
from tests.conftest import FIXTURES, INTERNAL_DOMAIN, REP

CALENDAR = FIXTURES / "calendar"
INTERNAL = frozenset({INTERNAL_DOMAIN})
DEMO_UID = "7kq2r9v8b1m3globex@google.com"


def read(name: str) -> list[CalendarInput]:
    return meetings_from_ics((CALENDAR / name).read_bytes(), internal_domains=INTERNAL)


def meeting(name: str) -> ActivityIn:
    (item,) = read(name)
    assert isinstance(item, ActivityIn), item
    return item


def event(*lines: str, method: str = "REQUEST") -> bytes:
    """A minimal calendar with one event; ``lines`` go inside the VEVENT."""
    body = "\r\n".join(("UID:u1", "DTSTAMP:20261101T090000Z", *lines))
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:{method}\r\nBEGIN:VEVENT\r\n{body}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


GUEST = "ATTENDEE;CN=Ana Silva:mailto:ana.silva@globex.example"


def test_a_google_request_names_organizer_attendees_and_their_answers() -> None:
    item = meeting("01-google-request.ics")
    assert (item.kind, item.source, item.external_id) == ("meeting", "calendar", DEMO_UID)
    assert [(p.email, p.name) for p in item.people] == [
        ("ana.silva@globex.example", "Ana Silva"),
        ("raj.patel@globex.example", "Raj Patel"),
    ]  # the rep is not a contact, the meeting room is not a person
    assert item.rep_email == REP.email
    assert item.subject == "Acme Insights demo for Globex"
    assert (item.update, item.revision) == ("revision", 1)
    assert item.facts == {
        "start": "2026-11-24T15:00:00+00:00",
        "end": "2026-11-24T16:00:00+00:00",
        "duration_s": 3600,
        "cancelled": False,
        "booked_at": "2026-11-10T13:55:00+00:00",
        "attendees": [
            {"email": REP.email, "partstat": "ACCEPTED"},
            {"email": "ana.silva@globex.example", "partstat": "NEEDS-ACTION"},
            {"email": "raj.patel@globex.example", "partstat": "NEEDS-ACTION"},
        ],
        "organizer": REP.email,
        "method": "REQUEST",
        "sequence": 0,
        "location": "Globex HQ, 5th floor",
    }
    assert item.raw is not None
    assert item.content_type == "text/calendar"


def test_an_outside_organizer_is_a_contact_and_an_invited_rep_owns_the_meeting() -> None:
    item = meeting("04-outlook-request.ics")
    assert [(p.email, p.name) for p in item.people] == [
        ("klaus.meyer@initech.example", "Klaus Meyer"),
        ("jonas.weber@initech.example", "Weber, Jonas"),
    ]
    assert item.rep_email == REP.email
    assert item.facts["organizer"] == "klaus.meyer@initech.example"
    assert item.subject == "Initech Beschaffung – Abstimmung"


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        # America/New_York through the file's VTIMEZONE: EST after the US clocks went back
        ("01-google-request.ics", datetime(2026, 11, 24, 15, 0), datetime(2026, 11, 24, 16, 0)),
        ("02-google-reschedule.ics", datetime(2026, 12, 1, 14, 30), datetime(2026, 12, 1, 15, 30)),
        # Outlook's Windows zone name with its own rules: Berlin is already on winter time
        # (CET, +1) on 28 October while New York is still on summer time
        ("04-outlook-request.ics", datetime(2026, 10, 28, 15, 0), datetime(2026, 10, 28, 16, 0)),
        # an all-day date is the day in the calendar's X-WR-TIMEZONE (Los Angeles, PST)
        ("07-all-day.ics", datetime(2026, 11, 17, 8, 0), datetime(2026, 11, 18, 8, 0)),
    ],
)
def test_times_are_utc_across_time_zones_and_dst(name: str, start: datetime, end: datetime) -> None:
    item = meeting(name)
    assert item.occurred_at == start.replace(tzinfo=UTC)
    assert item.facts["start"] == start.replace(tzinfo=UTC).isoformat()
    assert item.facts["end"] == end.replace(tzinfo=UTC).isoformat()
    assert item.facts["duration_s"] == (end - start).total_seconds()


def test_an_all_day_event_says_so() -> None:
    assert meeting("07-all-day.ics").facts["all_day"] is True
    assert "all_day" not in meeting("01-google-request.ics").facts


def test_a_series_is_one_meeting_and_an_overridden_occurrence_another() -> None:
    series, moved = read("08-recurring-with-override.ics")
    assert isinstance(series, ActivityIn)
    assert isinstance(moved, ActivityIn)
    # zoneinfo resolves the TZID (no VTIMEZONE in the file): PDT before 1 November, PST after
    assert series.occurred_at == datetime(2026, 10, 27, 16, 0, tzinfo=UTC)
    assert series.facts["recurrence"] == "FREQ=WEEKLY;COUNT=6;BYDAY=TU"
    assert series.external_id == "5weekly8globexpilot@google.com"
    assert moved.external_id == "5weekly8globexpilot@google.com#2026-11-10T17:00:00Z"
    assert moved.occurred_at == datetime(2026, 11, 11, 21, 0, tzinfo=UTC)
    assert (moved.revision, moved.subject) == (4, "Globex pilot check-in (moved)")


def test_revisions_order_sequence_first_then_reply_request_cancel() -> None:
    request, reschedule = meeting("01-google-request.ics"), meeting("02-google-reschedule.ics")
    followup, cancel = meeting("05-outlook-followup.ics"), meeting("06-outlook-cancel.ics")
    reply = read("03-google-reply-accepted.ics")[0]
    assert isinstance(reply, ActivityIn)
    revisions = [item.revision for item in (request, reply, reschedule, followup, cancel)]
    assert revisions == [1, 3, 4, 1, 2]  # request 0 < reply 1 < request 1; cancel 0 > request 0
    assert followup.facts["sequence"] == cancel.facts["sequence"] == 0
    assert (cancel.facts["cancelled"], cancel.facts["method"]) == (True, "CANCEL")


def test_status_cancelled_in_a_request_is_a_cancellation() -> None:
    (item,) = meetings_from_ics(
        event("DTSTART:20261201T100000Z", "STATUS:CANCELLED", GUEST), internal_domains=INTERNAL
    )
    assert isinstance(item, ActivityIn)
    assert (item.facts["cancelled"], item.revision) == (True, 2)


def test_a_reply_is_the_meeting_as_seen_then_a_merge_of_the_answer() -> None:
    seen, answer = read("03-google-reply-accepted.ics")
    assert isinstance(seen, ActivityIn)
    assert isinstance(answer, ActivityIn)
    assert (seen.external_id, seen.update, seen.facts["method"]) == (DEMO_UID, "revision", "REPLY")
    assert answer.external_id == DEMO_UID
    assert answer.update == "merge"
    assert answer.facts == {"rsvp:ana.silva@globex.example": "ACCEPTED"}
    assert answer.subject is None  # a merge keeps the organizer's title
    assert [p.email for p in answer.people] == ["ana.silva@globex.example"]


def test_floating_times_read_in_the_calendar_zone_else_utc() -> None:
    floating = event("DTSTART:20260701T090000", GUEST)
    (utc,) = meetings_from_ics(floating, internal_domains=INTERNAL)
    zoned = floating.replace(b"METHOD:REQUEST", b"METHOD:REQUEST\r\nX-WR-TIMEZONE:Europe/Paris")
    (paris,) = meetings_from_ics(zoned, internal_domains=INTERNAL)
    assert isinstance(utc, ActivityIn)
    assert isinstance(paris, ActivityIn)
    assert utc.occurred_at == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert paris.occurred_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


def test_bad_events_are_quarantined_and_their_neighbours_kept() -> None:
    data = (CALENDAR / "09-malformed-events.ics").read_bytes()
    good, bad = meetings_from_ics(data, internal_domains=INTERNAL)
    assert isinstance(good, ActivityIn)
    assert [p.email for p in good.people] == ["mei.chen@umbrella.example"]
    assert isinstance(bad, QuarantineIn)
    assert bad.raw == data  # the bytes as given, broken lines included
    assert bad.external_id == "umbrella-bad-date@acme-analytics.example"
    date_error, zone_error = bad.reason.split("; ")
    assert date_error.startswith("event umbrella-bad-date@acme-analytics.example: unreadable")
    assert "DTSTART" in date_error
    assert "20261199T250000Z" in date_error
    assert zone_error == (
        "event umbrella-bad-zone@acme-analytics.example: "
        "unknown time zone 'Mars/Olympus_Mons' in DTSTART"
    )


def test_a_captured_event_keeps_its_own_bytes_with_its_time_zones() -> None:
    item = meeting("04-outlook-request.ics")
    assert item.raw is not None
    assert b"BEGIN:VTIMEZONE" in item.raw
    assert meetings_from_ics(item.raw, internal_domains=INTERNAL) == [item]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ((CALENDAR / "10-truncated.ics").read_bytes(), "no complete VCALENDAR in the data"),
        (b"", "no complete VCALENDAR in the data"),
        (b"\x00\xff\xfe not a calendar", "unreadable calendar data"),
        (event("DTSTART:20261201T100000Z", GUEST).replace(b"UID:u1\r\n", b""), "no UID"),
        (event(GUEST), "no DTSTART"),
        (event("DTSTART:20261201T100000Z", "SEQUENCE:many", GUEST), "SEQUENCE"),
        (event("DTSTART:20261201T100000Z", f"SEQUENCE:{MAX_SEQUENCE + 1}", GUEST), "SEQUENCE"),
        (event("DTSTART:20261201T100000Z", "DTEND:20261130T100000Z", GUEST), "ends before"),
        (event("DTSTART:20261201T100000Z", "UID:u2", GUEST), "more than once: UID"),
    ],
)
def test_unreadable_input_is_quarantined_with_a_reason(data: bytes, reason: str) -> None:
    (item,) = meetings_from_ics(data, internal_domains=INTERNAL)
    assert isinstance(item, QuarantineIn)
    assert reason in item.reason
    assert item.source == "calendar"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (event("DTSTART:20261201T100000Z", f"ATTENDEE:mailto:sam@{INTERNAL_DOMAIN}"), "internal"),
        (event("DTSTART:20261201T100000Z", GUEST, method="COUNTER"), "calendar counter"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", "no events"),
    ],
)
def test_what_is_no_customer_meeting_is_skipped_and_counted(data: bytes, reason: str) -> None:
    (item,) = meetings_from_ics(data, internal_domains=INTERNAL)
    assert isinstance(item, SkippedIn)
    assert item.reason == reason


def test_an_invite_mailed_inside_the_team_still_captures_its_outside_meeting() -> None:
    raw = (CALENDAR / "invite-internal.eml").read_bytes()
    mail, invite = email_inputs(raw, internal_domains=INTERNAL)
    assert isinstance(mail, SkippedIn)
    assert (mail.source, mail.reason) == ("email", "internal")
    assert isinstance(invite, ActivityIn)
    assert (invite.source, invite.external_id) == ("calendar", "3p9c0f1hooliintro@google.com")
    assert [p.email for p in invite.people] == ["lena.novak@hooli.example"]
    assert invite.occurred_at == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # GMT in London
    assert email_input(raw, internal_domains=INTERNAL) == mail  # the single-input form


def test_unreadable_mail_gives_one_quarantine_row() -> None:
    (item,) = email_inputs(b"\x00\x01 not mail", internal_domains=INTERNAL)
    assert isinstance(item, QuarantineIn)
    assert item.source == "email"
