"""Malformed iCalendar data through ``meetings_from_ics``: nothing escapes, no event is lost."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from handlers.calendar import meetings_from_ics
from models.services.inputs import ActivityIn, QuarantineIn, SkippedIn
from tests.property.checks import assert_kinds, assert_readable_reason
from tests.property.strategies import (
    INTERNAL,
    bad_events,
    badly_nested_events,
    broken_calendars,
    calendar_of,
    good_event,
)

DOMAINS = frozenset({INTERNAL})
LONG_UID = calendar_of([["BEGIN:VEVENT", "UID:" + "u" * 600, "DTSTART:x", "END:VEVENT"]])
NUL_UID = calendar_of([["BEGIN:VEVENT", "UID:a\x00b", "DTSTART:garbage", "END:VEVENT"]])
UTF16 = calendar_of([good_event("g")]).decode().encode("utf-16")


def read(data: bytes) -> list[ActivityIn | SkippedIn | QuarantineIn]:
    return meetings_from_ics(data, internal_domains=DOMAINS)


@given(data=st.one_of(broken_calendars(), st.binary(max_size=300)))
@example(data=b"")
@example(data=b"BEGIN:VCALENDAR\r\n")
@example(data=b"END:VCALENDAR\r\nBEGIN:VCALENDAR\r\n")
@example(data=calendar_of([["BEGIN:VEVENT", "UID:x", "SEQUENCE:" + "9" * 40, "END:VEVENT"]]))
@example(data=calendar_of([good_event("g")], method="DESTROY"))
@example(data=LONG_UID)
@example(data=NUL_UID)
@example(data=UTF16)
def test_any_calendar_data_becomes_meetings_skips_or_quarantine(data: bytes) -> None:
    items = read(data)

    assert_kinds(items)
    quarantined = [item for item in items if isinstance(item, QuarantineIn)]
    assert len(quarantined) <= 1, "bad events share one quarantine row"
    for item in items:
        if isinstance(item, QuarantineIn):
            assert item.raw == data
            assert_readable_reason(item)
        elif isinstance(item, SkippedIn):
            assert item.external_id
            assert_readable_reason(item)
        else:
            assert item.kind == "meeting"
            assert item.external_id
            assert item.occurred_at.tzinfo is not None
            if item.update == "revision":
                assert item.revision is not None
                assert 0 <= item.revision < 2**31, "revisions are 32-bit in the database"


@given(
    bad=st.lists(bad_events(), min_size=1, max_size=3),
    good_first=st.booleans(),
    method=st.sampled_from(("REQUEST", "PUBLISH", "CANCEL", "X-UNKNOWN")),
)
def test_a_good_event_survives_bad_neighbours(
    bad: list[list[str]], good_first: bool, method: str
) -> None:
    good = good_event("good-1@globex.example")
    events = [good, *bad] if good_first else [*bad, good]

    items = read(calendar_of(events, method=method))

    assert_kinds(items)
    meetings = [i for i in items if isinstance(i, ActivityIn)]
    assert [m.external_id for m in meetings] == ["good-1@globex.example"]
    assert meetings[0].people[0].email == "ana.silva@globex.example"
    assert meetings[0].occurred_at.isoformat() == "2026-11-24T14:00:00+00:00"
    (quarantined,) = [i for i in items if isinstance(i, QuarantineIn)]
    assert_readable_reason(quarantined)


BAD_ALARM = [
    "BEGIN:VEVENT",
    "UID:bad-alarm",
    "DTSTART:20261124T150000Z",
    "BEGIN:VALARM",
    "ACTION:DISPLAY",
    "TRIGGER:garbage",
    "END:VALARM",
    "END:VEVENT",
]


@given(bad=badly_nested_events(), good_first=st.booleans())
@example(bad=BAD_ALARM, good_first=True)
def test_a_good_event_survives_a_neighbour_with_a_broken_component_inside(
    bad: list[str], good_first: bool
) -> None:
    good = good_event("good-1@globex.example")
    items = read(calendar_of([good, bad] if good_first else [bad, good]))

    assert_kinds(items)
    meetings = [i.external_id for i in items if isinstance(i, ActivityIn)]
    assert "good-1@globex.example" in meetings
