"""End to end on SQLite and PostgreSQL: mixed good and broken input through the real capture.

Every example uses ids of its own (the database lives for the whole test), so each good
message must be stored exactly once, and every input a reader produced must end as an
activity, a skipped item or a quarantine row, also when the batch transaction fails and
``capture_many`` falls back to one by one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.bulk import capture_many
from bot.inbox import Inbox
from bot.runtime import Runtime
from bot.sources import WEBHOOK_SOURCES
from handlers.mail_capture import email_inputs
from handlers.marketing import HUBSPOT_WEBHOOK, MARKETING_WEBHOOK
from handlers.webhook import WebhookSource
from models.activity import Activity, Quarantine, RawItem, SkippedItem
from models.db import unit_of_work
from models.services.inbox import accept_raw
from models.services.inputs import ActivityIn, CaptureInput, QuarantineIn, SkippedIn
from tests.property.strategies import (
    INTERNAL,
    REP_EMAIL,
    any_mail,
    calendar_of,
    good_event,
    good_mail,
    webhook_body,
)

DOMAINS = frozenset({INTERNAL})
READER = functools.partial(email_inputs, internal_domains=DOMAINS)
FEW = settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])


def inbound(message_id: bytes, *, sender: bytes = b"Ana Silva", body: bytes = b"Hi") -> bytes:
    """An inbound mail that reads fine; what it holds may still be hard to store."""
    return (
        b"Message-ID: <" + message_id + b">\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
        b'From: "' + sender + b'" <ana@globex.example>\r\nTo: ' + REP_EMAIL.encode() + b"\r\n"
        b"Subject: Pilot\r\n\r\n" + body + b"\r\n"
    )  # fmt: skip


# Mail the reader turns into activities that a database refuses (see the regression tests):
LONG_A = inbound(b"x" * 600 + b"@globex.example")  # an id over the 500 of its column
LONG_B = inbound(b"x" * 600 + b"@initech.example")  # ... equal to LONG_A's in its first 500
NUL_ID = inbound(b"a\x00b@globex.example")  # PostgreSQL text cannot hold NUL
NUL_BODY = inbound(b"nul-body@globex.example", body=b"see\x00you")
SURROGATE = inbound(b"surrogate@globex.example").replace(
    b"Subject: Pilot", b"Subject: =?utf-8?q?Re:?= \\ud800"
)  # the reader makes a lone surrogate of it
LONG_NAME = inbound(b"long-name@globex.example", sender=b"Ana " * 80)  # Contact.name is 200
SURROGATE_NAME = inbound(b"surrogate-name@globex.example").replace(
    b'"Ana Silva"', b"=?utf-8?q?Ana?= \\ud800"
)  # a display name with a lone surrogate (see test_mail_property)
UTF7_BODY = inbound(b"utf7-body@globex.example", body=b"+2AA-").replace(
    b"Subject: Pilot", b"Content-Type: text/plain; charset=utf-7\r\nSubject: Pilot"
)  # the reader decodes it to a lone surrogate (see test_mail_property)
BAD_UIDS = calendar_of(
    [
        good_event("invite-good@globex.example"),
        ["BEGIN:VEVENT", "UID:" + "u" * 600, "DTSTART:x", "END:VEVENT"],
        ["BEGIN:VEVENT", "UID:a\x00b", "DTSTART:x", "END:VEVENT"],
    ]
)
INVITE = inbound(b"invite@globex.example", body=BAD_UIDS).replace(
    b"Subject: Pilot", b"Content-Type: text/calendar; method=REQUEST\r\nSubject: Pilot"
)  # one meeting, and a quarantine row whose external id is 600 characters or holds NUL
TROUBLE = (
    *(LONG_A, LONG_B, NUL_ID, NUL_BODY, SURROGATE, LONG_NAME, SURROGATE_NAME, UTF7_BODY),
    INVITE,
)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fallback_raw(item: CaptureInput) -> bytes:
    """What capture_one_by_one quarantines for an input it could not store."""
    return getattr(item, "raw", None) or repr(item).encode()


def clean(external_id: str) -> bool:
    """Whether an id can be looked up as it is (how the product fits others is its choice)."""
    return len(external_id) <= 500 and "\x00" not in external_id and _utf8(external_id)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _prefix(external_id: str) -> str:
    """The start of an unclean id, as any sane fitting of it would keep it."""
    head = external_id[:60].split("\x00")[0]
    return head.encode("utf-8", "ignore").decode("utf-8")


async def _exists(session: AsyncSession, query: Any) -> bool:
    return (await session.exec(query.limit(1))).first() is not None


async def _stored(session: AsyncSession, item: ActivityIn | SkippedIn) -> bool:
    """Whether the input became an activity (or a skipped item), by id or by its raw bytes."""
    table = Activity if isinstance(item, ActivityIn) else SkippedItem
    ids = select(table.id).where(table.source == item.source)
    if clean(item.external_id):
        return await _exists(session, ids.where(table.external_id == item.external_id))
    if isinstance(item, ActivityIn) and item.raw is not None:
        by_raw = select(Activity.id).join(RawItem, col(Activity.raw_item_id) == RawItem.id)
        if await _exists(session, by_raw.where(RawItem.body == item.raw)):
            return True
    prefix = _prefix(item.external_id)
    starts = col(table.external_id).startswith(prefix, autoescape=True)
    return bool(prefix) and await _exists(session, ids.where(starts))


async def missing(
    runtime: Runtime, items: Sequence[CaptureInput], *, quarantine_counts: bool = True
) -> list[CaptureInput]:
    """The inputs that ended nowhere: no activity, skipped item or quarantine row.

    With ``quarantine_counts=False`` an activity or skip that was set aside in quarantine
    (because the database refused it) counts as missing too.
    """
    lost = []
    async with unit_of_work(runtime.sessions) as session:
        for item in items:
            if isinstance(item, QuarantineIn):
                found = await _exists(
                    session, select(Quarantine.id).where(Quarantine.digest == digest(item.raw))
                )
            else:
                found = await _stored(session, item) or (
                    quarantine_counts
                    and await _exists(
                        session,
                        select(Quarantine.id).where(
                            Quarantine.digest == digest(fallback_raw(item))
                        ),
                    )
                )
            if not found:
                lost.append(item)
    return lost


async def activity_count(runtime: Runtime, external_id: str) -> int:
    async with unit_of_work(runtime.sessions) as session:
        query = select(func.count()).where(
            Activity.source == "email", Activity.external_id == external_id
        )
        return int((await session.exec(query)).one())


def plans() -> st.SearchStrategy[list[bytes | None]]:
    """A stream: None is a good message (made unique per example), bytes a broken one."""
    slot = st.one_of(st.none(), st.none(), any_mail(), st.sampled_from(TROUBLE))
    return st.lists(slot, min_size=1, max_size=8)


# --- mail through capture_many ---------------------------------------------------------------


@FEW
@given(plan=plans())
@example(plan=[None, LONG_A, LONG_B, None])  # one batch that must fall back to one by one
@example(plan=[None, NUL_ID, SURROGATE, NUL_BODY, LONG_NAME, None])
async def test_a_mail_stream_stores_the_good_once_and_loses_nothing(
    runtime: Runtime, plan: list[bytes | None]
) -> None:
    run = uuid.uuid4().hex[:12]
    good = {
        index: f"good-{run}-{index}@globex.example" for index, raw in enumerate(plan) if raw is None
    }
    raws = [
        good_mail(good[index], "ana.silva@globex.example") if raw is None else raw
        for index, raw in enumerate(plan)
    ]

    outcomes = await capture_many(runtime, raws, READER)

    assert sum(outcomes.values()) >= len(raws)
    for message_id in good.values():
        assert await activity_count(runtime, message_id) == 1, message_id
    expected = [item for raw in raws for item in READER(raw)]
    assert await missing(runtime, expected) == []


@FEW
@given(plan=plans())
@example(plan=list(TROUBLE))
async def test_what_the_reader_could_read_is_captured_not_set_aside(
    runtime: Runtime, plan: list[bytes | None]
) -> None:
    """An activity or skip the reader made must be stored as one on both databases.

    Quarantine is for what cannot be understood; text a database cannot hold as it is
    (NUL, lone surrogates, overlong names or ids) must be fitted, not refused.
    """
    raws = [
        good_mail(f"g-{uuid.uuid4().hex}@globex.example", "ana@globex.example")
        if raw is None
        else raw
        for raw in plan
    ]

    await capture_many(runtime, raws, READER)

    expected = [item for raw in raws for item in READER(raw)]
    assert await missing(runtime, expected, quarantine_counts=False) == []


async def test_a_redelivered_mail_with_a_very_long_message_id_is_a_duplicate(
    runtime: Runtime,
) -> None:
    """Found here: an id over 500 characters was stored cut but looked up whole (C1)."""
    await capture_many(runtime, [LONG_A], READER)
    again = await capture_many(runtime, [LONG_A], READER)

    assert again == {"duplicate": 1}


@pytest.mark.parametrize("unstorable", [NUL_ID, LONG_A], ids=["nul-id", "long-id"])
async def test_an_unstorable_mail_never_stops_the_stream(
    runtime: Runtime, unstorable: bytes
) -> None:
    """Found here: on PostgreSQL the fallback's own quarantine insert failed and escaped."""
    first, last = inbound(b"first@globex.example"), inbound(b"last@globex.example")

    await capture_many(runtime, [first, unstorable, last], READER)

    assert await activity_count(runtime, "last@globex.example") == 1


NOT_FITTED = {
    "nul-body": (NUL_BODY, "postgresql", "the body keeps its NUL (capture.py _activity_row "
                 "passes item.body as it is; only subject and ids go through storable())"),
    "long-name": (LONG_NAME, "postgresql", "a display name over Contact.name's 200 "
                  "characters (identity.py resolve_contacts/_record_details do not cut it)"),
    "surrogate-name": (SURROGATE_NAME, "both", "a display name with a lone surrogate "
                       "(identity.py stores PersonIn.name as it is)"),
    "utf7-body": (UTF7_BODY, "both", "a body with a lone surrogate (utf-7 decoded by "
                  "mail_text.decode_bytes; the body is not passed through storable())"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(NOT_FITTED))
async def test_a_readable_mail_is_stored_on_every_database(runtime: Runtime, case: str) -> None:
    raw, _where, _why = NOT_FITTED[case]
    assert await capture_many(runtime, [raw], READER) == {"stored": 1}


# --- webhook bodies through the real inbox --------------------------------------------------

Stored = tuple[WebhookSource, bytes, str]


@st.composite
def webhook_batches(draw: st.DrawFn) -> list[Stored]:
    """A few bodies for random sources, as they would sit in the inbox."""
    bodies = []
    for _ in range(draw(st.integers(1, 5))):
        source = draw(st.sampled_from(WEBHOOK_SOURCES))
        body, content_type = draw(webhook_body(source.name))
        bodies.append((source, body, content_type))
    return bodies


GOOD_VISIT = {
    "id": "visit-1",
    "type": "page_view",
    "occurred_at": "2026-11-20T14:00:00Z",
    "visitor_id": "v-1",
    "url": "https://acme.example/pricing",
}
BAD_ID_NEIGHBOUR = b'{"events": [%s, {"id": "bad\\ud800", "type": "page_view"}]}' % (
    json.dumps(GOOD_VISIT).encode()
)
GOOD_FORM = {
    "eventId": 1, "subscriptionId": 2, "portalId": 3, "occurredAt": 1_763_647_200_000,
    "subscriptionType": "contact.propertyChange", "objectId": 4,
    "propertyName": "recent_conversion_event_name", "propertyValue": "Pricing form",
}  # fmt: skip
HUBSPOT_BAD_ID_NEIGHBOUR = json.dumps([GOOD_FORM, {"id": "h\x00", "eventId": "bad"}]).encode()


def expected_inputs(
    runtime: Runtime, source: WebhookSource, body: bytes, content_type: str
) -> list[CaptureInput]:
    """What the inbox must capture for a body: its inputs, or the body in quarantine."""
    try:
        return list(source.parse(body, content_type, runtime.config.crm, runtime.clock()))
    except Exception:
        return [QuarantineIn(source.name, "cannot read", body)]


@FEW
@given(batch=webhook_batches())
@example(batch=[(MARKETING_WEBHOOK, BAD_ID_NEIGHBOUR, "application/json")])
@example(batch=[(HUBSPOT_WEBHOOK, HUBSPOT_BAD_ID_NEIGHBOUR, "application/json")])
async def test_webhook_bodies_lose_no_good_event(runtime: Runtime, batch: list[Stored]) -> None:
    """Found here: an event whose own id held a NUL or a lone surrogate was quarantined
    under that id, the row could not be stored, and the inbox set the whole body aside."""
    run = uuid.uuid4().hex[:12]
    async with unit_of_work(runtime.sessions) as session:
        for index, (source, body, content_type) in enumerate(batch):
            await accept_raw(
                session=session, workspace_id=runtime.workspace_id, source=source.name,
                external_id=f"{run}-{index}", body=body, content_type=content_type,
            )  # fmt: skip

    await Inbox(runtime, WEBHOOK_SOURCES).run_once()

    async with unit_of_work(runtime.sessions) as session:
        rows = (
            await session.exec(select(RawItem).where(col(RawItem.external_id).startswith(run)))
        ).all()
    assert len(rows) == len(batch)
    assert all(row.processed_at is not None for row in rows)
    inputs = [
        item
        for source, body, content_type in batch
        for item in expected_inputs(runtime, source, body, content_type)
    ]
    assert await missing(runtime, inputs, quarantine_counts=False) == []
