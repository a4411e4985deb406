"""Tests for the deterministic demo company generator."""

from __future__ import annotations

import email
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import pytest

from bot.sample_data import SampleData, generate

NOW = datetime(2024, 6, 14, 15, 30, tzinfo=UTC)
REQUIRED = ("Message-ID", "Date", "From", "To", "Subject", "MIME-Version", "Content-Type")


@pytest.fixture(scope="module")
def data() -> SampleData:
    return generate(now=NOW)


@pytest.fixture(scope="module")
def messages(data: SampleData) -> list[Message]:
    return [email.message_from_bytes(raw) for raw in data.emails]


def _sender(msg: Message) -> str:
    return parseaddr(str(msg["From"]))[1]


def _is_reply(msg: Message) -> bool:
    return msg["In-Reply-To"] is not None and msg["Auto-Submitted"] is None


def test_same_seed_and_now_give_identical_output(data: SampleData) -> None:
    again = generate(now=NOW)
    assert again == data
    assert b"".join(again.emails) == b"".join(data.emails)
    assert generate(seed=8, now=NOW).emails != data.emails


def test_every_email_parses_with_proper_headers(messages: list[Message]) -> None:
    for msg in messages:
        missing = [name for name in REQUIRED if msg[name] is None]
        assert not missing, (msg["Message-ID"], missing)
        assert msg.get_content_type() == "text/plain"
        assert msg.get_content_charset() == "utf-8"
        assert parsedate_to_datetime(str(msg["Date"])).tzinfo is not None
        if msg["In-Reply-To"] is not None:
            assert str(msg["Subject"]).startswith(("Re: ", "Automatic reply: "))
            assert str(msg["References"]).split()[-1] == msg["In-Reply-To"]
    ids = [msg["Message-ID"] for msg in messages]
    assert len(set(ids)) == len(ids)


def test_headers_are_ascii_with_encoded_non_ascii_names(data: SampleData) -> None:
    names = []
    for raw in data.emails:
        head = raw.split(b"\r\n\r\n", 1)[0]
        head.decode("ascii")
        msg = email.message_from_bytes(raw)
        for field in ("From", "To", "Cc"):
            for name, _ in getaddresses([str(v) for v in msg.get_all(field, [])]):
                names.append(str(make_header(decode_header(name))))
    assert any(not name.isascii() for name in names)
    assert "Siobhán O'Neill" in names


def test_counts_are_in_range(data: SampleData, messages: list[Message]) -> None:
    assert 300 <= len(data.emails) <= 600
    assert len(data.accounts) == 15
    assert len({a.domain for a in data.accounts}) == 15
    assert all(a.domain.endswith(".example") and a.employees > 0 for a in data.accounts)
    assert len({a.industry for a in data.accounts}) >= 4
    assert 3 <= len(data.reps) <= 4
    assert all(r.email.endswith("@" + data.internal_domain) for r in data.reps)
    assert {a.owner_slack_id for a in data.accounts} <= {r.slack_user_id for r in data.reps}
    assert len(data.truth) == 60
    assert 20 <= len(data.deals) <= 30
    assert set(Counter(d.outcome for d in data.deals)) == {"won", "lost", "open"}
    kinds = Counter(e.kind for e in data.events)
    assert min(kinds["meeting"], kinds["call"]) > 20
    assert kinds["web"] > 100
    assert len({e.external_id for e in data.events}) == len(data.events)
    internal = [
        m
        for m in messages
        if all(
            addr.endswith("@" + data.internal_domain)
            for _, addr in getaddresses([str(m["From"]), str(m["To"])])
        )
    ]
    assert len(internal) == 2
    assert 2 <= sum(m["Auto-Submitted"] == "auto-replied" for m in messages) <= 3
    bulk = [m for m in messages if m["Precedence"] == "bulk"]
    assert len(bulk) == 2
    assert all(m["List-Unsubscribe"] for m in bulk)


def test_truth_is_a_probability(data: SampleData) -> None:
    assert all(0 < p < 1 for p in data.truth.values())
    assert set(data.truth) >= {d.contact_email for d in data.deals}


def test_replies_reference_earlier_messages(messages: list[Message]) -> None:
    seen: set[str] = set()
    replies = 0
    for msg in messages:
        if msg["In-Reply-To"] is not None:
            replies += 1
            assert msg["In-Reply-To"] in seen
            assert set(str(msg["References"]).split()) <= seen
        seen.add(str(msg["Message-ID"]))
    assert replies > 100


def test_contact_mails_carry_a_signature(data: SampleData, messages: list[Message]) -> None:
    inbound = [m for m in messages if _sender(m) in data.truth and _is_reply(m)]
    for msg in inbound:
        body = msg.get_payload(decode=True)
        assert isinstance(body, bytes)
        own = body.decode().replace("\r\n", "\n").split("\nOn ", 1)[0]
        assert "\n-- \n" in own or "\nBest,\n" in own or "\nThanks,\n" in own
        assert "+1 " in own or "+44 20 7946 " in own


@pytest.mark.parametrize("seed", [7, 1, 2, 3])
def test_higher_truth_means_more_replies_and_pricing_visits(seed: int) -> None:
    sample = generate(seed=seed, now=NOW)
    replies = Counter(
        _sender(m) for m in map(email.message_from_bytes, sample.emails) if _is_reply(m)
    )
    pricing = Counter(
        e.contact_email
        for e in sample.events
        if e.kind == "web" and str(e.url).endswith("/pricing")
    )
    ranked = sorted(sample.truth, key=sample.truth.__getitem__)
    low, high = ranked[: len(ranked) // 2], ranked[len(ranked) // 2 :]
    assert statistics.mean(replies[c] for c in high) > statistics.mean(replies[c] for c in low)
    assert statistics.mean(pricing[c] for c in high) > statistics.mean(pricing[c] for c in low)


def test_everything_is_in_the_past_and_in_order(data: SampleData, messages: list[Message]) -> None:
    start = NOW - timedelta(days=120)
    dates = [parsedate_to_datetime(str(m["Date"])) for m in messages]
    assert dates == sorted(dates)
    assert all(start <= d < NOW for d in dates)
    times = [e.occurred_at for e in data.events]
    assert times == sorted(times)
    assert all(t.tzinfo is not None and start <= t < NOW for t in times)
    last_touch = {e.contact_email: e.occurred_at for e in data.events}
    for msg, sent in zip(messages, dates, strict=True):
        for _, addr in getaddresses([str(msg["From"]), str(msg["To"])]):
            last_touch[addr] = max(sent, last_touch.get(addr, sent))
    for d in data.deals:
        assert start <= d.created_at < NOW
        assert (d.closed_at is None) == (d.outcome == "open")
        if d.closed_at is not None:
            assert d.created_at < d.closed_at < NOW
            assert last_touch.get(d.contact_email, start) < d.closed_at
            assert d.stage == {"won": "Closed Won", "lost": "Closed Lost"}[d.outcome]


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(now=datetime(2024, 6, 14))
