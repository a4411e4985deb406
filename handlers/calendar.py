r"""Calendar data (.ics files, text/calendar parts of mail) as meeting inputs.

Each VEVENT is one ``meeting`` keyed by its UID, plus ``#`` and the RECURRENCE-ID in UTC
for an override of one occurrence of a series (a series itself is one meeting at its first
start; occurrences are not expanded). Times are stored in UTC: a TZID is resolved through
the file's VTIMEZONE or zoneinfo (Windows names included); floating times and all-day
dates are read in the calendar's X-WR-TIMEZONE, else UTC; an unknown TZID is an error.
The outside organizer and attendees are the people (rooms and resources are not); the rep
is the internal organizer, else the first internal attendee; a meeting with nobody from
outside is skipped as internal.

Versions are ordered as iTIP orders them: by SEQUENCE, and within one SEQUENCE an
attendee's reply < the organizer's version < its cancellation, so ``revision`` is
``3 × SEQUENCE + rank``. A reschedule (higher SEQUENCE) moves the meeting; a CANCEL (or
STATUS:CANCELLED) wins over the request of the same SEQUENCE; a repeated or older message
changes nothing.

A METHOD:REPLY is an attendee answering, not the organizer changing the meeting. A reply
under an external id of its own would leave the meeting unchanged, and as a revision it
would replace the meeting with the reply's partial view (one attendee). So it gives two
inputs on the meeting's id: the meeting as the reply saw it, at the lowest rank of its
SEQUENCE (it creates the meeting when only replies are known, as in an organizer's own
inbox, and is ignored otherwise), then a ``merge`` of ``rsvp:<email>`` = PARTSTAT. The
merge adds only ``rsvp:`` keys and no subject, so it never undoes start, end, cancellation
or attendees of a later revision; a newer revision starts again from the PARTSTATs the
organizer sent, as iTIP asks after a reschedule. An attendee's answer is ``rsvp:<email>``
if present, else their ``partstat`` in ``attendees``. Limits (a merge cannot see the stored
revision): a stale reply's answer is still added, and a reply read before the organizer's
request of the same SEQUENCE loses its answer when that request arrives.

>>> ics = (b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:m1\r\nSEQUENCE:1\r\n"
...        b"DTSTART;TZID=Europe/Paris:20260702T100000\r\nDURATION:PT30M\r\n"
...        b"ORGANIZER:mailto:rep@acme.example\r\nATTENDEE;CN=Ana:mailto:ana@globex.example\r\n"
...        b"END:VEVENT\r\nEND:VCALENDAR\r\n")
>>> (meeting,) = meetings_from_ics(ics, internal_domains=frozenset({"acme.example"}))
>>> meeting.external_id, meeting.occurred_at.isoformat(), meeting.revision, meeting.rep_email
('m1', '2026-07-02T08:00:00+00:00', 4, 'rep@acme.example')
>>> [(p.email, p.name) for p in meeting.people], meeting.facts["duration_s"]
([('ana@globex.example', 'Ana')], 1800)
>>> meetings_from_ics(b"BEGIN:VCALENDAR\r\n", internal_domains=frozenset())[0].reason
'no complete VCALENDAR in the data'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Component

from handlers.mail import Address, is_internal, normalise_domains
from models.services.inputs import ActivityIn, PersonIn, QuarantineIn, SkippedIn

CalendarInput = ActivityIn | SkippedIn | QuarantineIn
CONTENT_TYPE = "text/calendar"
MAX_SEQUENCE = (2**31 - 3) // 3  # revisions are 32-bit integers in the database
_RANKS = {"REPLY": 0, "CANCEL": 2}
_IGNORED_METHODS = frozenset({"COUNTER", "DECLINECOUNTER", "REFRESH"})
# properties read here (None: a line too broken to name); an error in one rejects the event
_READ = frozenset(
    {"UID", "DTSTART", "DTEND", "DURATION", "SEQUENCE", "RECURRENCE-ID", "DTSTAMP", "CREATED"}
    | {"ORGANIZER", "ATTENDEE", "STATUS", None}
)
_ONCE = (_READ - {"ATTENDEE", None}) | {"SUMMARY", "LOCATION", "RRULE"}
_NOT_PEOPLE = frozenset({"ROOM", "RESOURCE"})


class BadEventError(ValueError):
    """One VEVENT cannot be understood; the message says why."""


def meetings_from_ics(
    data: bytes, *, internal_domains: frozenset[str], source: str = "calendar"
) -> list[CalendarInput]:
    """Every VEVENT of iCalendar data as inputs.

    Events that cannot be read share one quarantine row holding the data as given, with a
    reason per event; the others are captured all the same.
    """
    bad: list[tuple[str, str]] = []
    problem = "no complete VCALENDAR in the data"
    try:
        calendars = Calendar.from_ical(data, multiple=True)
    except Exception as exc:  # the parser raises many types for unreadable bytes
        calendars, problem = [], f"unreadable calendar data: {exc}"
    if not calendars:
        calendars, bad = _event_by_event(data)
    if not calendars and not bad:
        return [QuarantineIn(source, problem, data)]
    domains = normalise_domains(internal_domains)
    found: list[CalendarInput] = []
    for calendar in calendars:
        for event in calendar.walk("VEVENT"):
            try:
                found.extend(_event_inputs(calendar, event, domains, source, data))
            except Exception as exc:  # one bad event must not lose its neighbours
                why = str(exc) if isinstance(exc, BadEventError) else f"unreadable event: {exc}"
                bad.append((_text(event, "UID"), why))
    if bad:
        reason = "; ".join(f"event {uid or 'without UID'}: {why}" for uid, why in bad)
        found.append(QuarantineIn(source, reason, data, bad[0][0] or None))
    if not found:
        digest = hashlib.sha256(data).hexdigest()
        found.append(SkippedIn(source, f"sha256:{digest}", "no events"))
    return found


_UID_LINE = re.compile(r"^UID[;:](?:[^:\r\n]*:)?(.*)$", re.MULTILINE)


def _event_by_event(data: bytes) -> tuple[list[Calendar], list[tuple[str, str]]]:
    """When the whole data cannot be parsed: each VEVENT on its own, with the calendar's
    other lines (its time zones), so one broken event loses only itself.

    Returns the calendars that parsed (one event each) and (UID, reason) of the others.
    """
    text = data.decode("utf-8", "replace")
    outside: list[str] = []
    events: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        upper = line.strip().upper()
        if current is None and upper == "BEGIN:VEVENT":
            current = [line]
        elif current is not None:
            current.append(line)
            if upper == "END:VEVENT":
                events.append(current)
                current = None
        elif upper != "END:VCALENDAR":
            outside.append(line)
    parsed: list[Calendar] = []
    bad: list[tuple[str, str]] = []
    for lines in events:
        try:
            calendar = Calendar.from_ical("\r\n".join([*outside, *lines, "END:VCALENDAR"]))
            problem = None if calendar.walk("VEVENT") else "its components are not closed"
        except Exception as exc:  # as above: many exception types for one broken event
            problem = str(exc)
        if problem is None:
            parsed.append(calendar)
        else:
            uid = _UID_LINE.search("\n".join(lines))
            bad.append((uid[1].strip() if uid else "", f"unreadable event: {problem}"))
    return parsed, bad


def read_ics_files(paths: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of every file given and every .ics file under the folders given."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() == ".ics":
                    yield str(child), child.read_bytes()
        elif path.is_file():
            yield str(path), path.read_bytes()
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")


def _event_bytes(calendar: Component, event: Component, data: bytes) -> bytes:
    """The event alone in a calendar with the time zones it may need, to keep and re-read."""
    single = Calendar()
    single.update(calendar)
    for zone in calendar.walk("VTIMEZONE"):
        single.add_component(zone)
    single.add_component(event)
    try:
        return bytes(single.to_ical())
    except Exception:  # a property too broken to write back: keep the whole input
        return data


def _event_inputs(
    calendar: Component, event: Component, domains: frozenset[str], source: str, data: bytes
) -> list[CalendarInput]:
    """The inputs one VEVENT gives (see the module docstring)."""
    broken = [f"{name or 'a line'}: {error}" for name, error in event.errors if name in _READ]
    if broken:
        raise BadEventError("unreadable event property " + "; ".join(broken))
    if twice := sorted(str(name) for name in _ONCE if isinstance(event.get(name), list)):
        raise BadEventError("event property given more than once: " + ", ".join(twice))
    uid = _text(event, "UID")
    if not uid:
        raise BadEventError("event has no UID")
    method = (_text(calendar, "METHOD") or "PUBLISH").upper()
    floating = _floating_zone(calendar)
    key = uid if len(uid) <= 400 else "sha256:" + hashlib.sha256(uid.encode()).hexdigest()
    if (occurrence := _utc(event, "RECURRENCE-ID", floating)) is not None:
        key += "#" + occurrence.strftime("%Y-%m-%dT%H:%M:%SZ")
    if method in _IGNORED_METHODS:
        return [SkippedIn(source, key, f"calendar {method.lower()}")]
    start = _utc(event, "DTSTART", floating)
    if start is None:
        raise BadEventError("event has no DTSTART")
    all_day = not isinstance(getattr(event.get("DTSTART"), "dt", None), datetime)
    end = _end(event, start, floating, all_day)
    cancelled = method == "CANCEL" or _text(event, "STATUS").upper() == "CANCELLED"
    organizer = _address(event.get("ORGANIZER"))
    attendees = _attendees(event)
    everyone = ([organizer] if organizer else []) + [address for address, _p in attendees]
    people = _people(everyone, domains)
    if not people:
        return [SkippedIn(source, key, "internal")]
    internal = [address.email for address in everyone if is_internal(address, domains)]
    facts: dict[str, Any] = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "duration_s": int((end - start).total_seconds()),
        "cancelled": cancelled,
        "booked_at": _booked_at(event),
        "attendees": [{"email": a.email, "partstat": partstat} for a, partstat in attendees],
        "organizer": organizer.email if organizer else None,
        "method": method,
        "sequence": _sequence(event),
    }
    facts |= {"all_day": True} if all_day else {}
    facts |= {"location": location} if (location := _text(event, "LOCATION")) else {}
    if "RRULE" in event:
        rule = event["RRULE"].to_ical()
        facts["recurrence"] = rule.decode() if isinstance(rule, bytes) else rule
    meeting = ActivityIn(
        source=source,
        external_id=key,
        kind="meeting",
        occurred_at=start,
        people=people,
        rep_email=internal[0] if internal else None,
        subject=_text(event, "SUMMARY")[:500] or None,
        facts=facts,
        raw=_event_bytes(calendar, event, data),
        content_type=CONTENT_TYPE,
        update="revision",
        revision=3 * facts["sequence"] + _RANKS.get(method, 2 if cancelled else 1),
    )
    if method != "REPLY" or not attendees:
        return [meeting]
    answers = {f"rsvp:{address.email}": partstat for address, partstat in attendees}
    repliers = _people([address for address, _p in attendees], domains)
    rsvp = ActivityIn(source, key, "meeting", start, repliers, facts=answers, update="merge")
    return [meeting, rsvp]


def _text(component: Component, name: str) -> str:
    """A text property (the first, if repeated), trimmed, or ''."""
    value = component.get(name)
    value = value[0] if isinstance(value, list) and value else value
    return " ".join(str(value).split()) if value is not None else ""


def _address(prop: Any) -> Address | None:
    """A calendar user's mailbox (``mailto:``), or None for rooms, groups' calendars, URNs."""
    if prop is None:
        return None
    value = str(prop).strip()
    email = value[7:] if value.lower().startswith("mailto:") else str(prop.params.get("EMAIL", ""))
    email = email.strip().lower()
    if "@" not in email or email.endswith("calendar.google.com"):
        return None
    return Address(email, " ".join(str(prop.params.get("CN", "")).split()))


def _attendees(event: Component) -> list[tuple[Address, str]]:
    """The attendees who are people (not rooms or resources) with their PARTSTAT."""
    found = []
    props = event.get("ATTENDEE") or []
    for prop in props if isinstance(props, list) else [props]:
        address = _address(prop)
        if address is not None and str(prop.params.get("CUTYPE", "")).upper() not in _NOT_PEOPLE:
            found.append((address, str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).upper()))
    return found


def _people(addresses: list[Address], domains: frozenset[str]) -> tuple[PersonIn, ...]:
    """The outside people among calendar users, each once."""
    seen: dict[str, PersonIn] = {}
    for address in addresses:
        if address.email not in seen and not is_internal(address, domains):
            seen[address.email] = PersonIn(address.email, address.name)
    return tuple(seen.values())


def _floating_zone(calendar: Component) -> tzinfo:
    """The zone of floating times and all-day dates: X-WR-TIMEZONE if valid, else UTC."""
    name = _text(calendar, "X-WR-TIMEZONE")
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _utc(event: Component, name: str, floating: tzinfo) -> datetime | None:
    """A DATE or DATE-TIME property as a UTC datetime (a date is its midnight)."""
    prop = event.get(name)
    if prop is None:
        return None
    value = getattr(prop, "dt", None)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if tzid := prop.params.get("TZID"):
                raise BadEventError(f"unknown time zone {tzid!r} in {name}")
            value = value.replace(tzinfo=floating)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), floating).astimezone(UTC)
    raise BadEventError(f"{name} is not a date or a time")


def _end(event: Component, start: datetime, floating: tzinfo, all_day: bool) -> datetime:
    """DTEND, else DTSTART + DURATION, else one day for an all-day event, else the start."""
    end = _utc(event, "DTEND", floating)
    if end is None:
        duration = getattr(event.get("DURATION"), "dt", None)
        fallback = timedelta(days=1) if all_day else timedelta(0)
        end = start + (duration if isinstance(duration, timedelta) else fallback)
    if end < start:
        raise BadEventError("event ends before it starts")
    return end


def _sequence(event: Component) -> int:
    """SEQUENCE (0 when absent), within what a revision can hold."""
    value = event.get("SEQUENCE", 0)
    if not isinstance(value, int) or not 0 <= value <= MAX_SEQUENCE:
        raise BadEventError(f"SEQUENCE is not a number from 0 to {MAX_SEQUENCE}: {value}")
    return value


def _booked_at(event: Component) -> str | None:
    """When the meeting became known: the earlier of CREATED and DTSTAMP, in UTC."""
    stamps = [at for name in ("CREATED", "DTSTAMP") if (at := _utc(event, name, UTC)) is not None]
    return min(stamps).isoformat() if stamps else None
