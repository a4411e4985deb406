"""Any outside text rendered into a nudge stays inert and within Block Kit's limits (C4.7)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from handlers.blocks import (
    AUTOMATED,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_HEADER,
    MAX_SECTION,
    mention,
    render_nudge,
)
from models.nudge import Nudge
from tests.property.strategies import hostile_text, huge_text

# What Slack would turn into a ping, a channel link or a link: "<!", "<@", "<#", "<http".
LIVE_MARKUP = re.compile(r"<[!@#]|<(?:https?|mailto):", re.IGNORECASE)
MAX_CONTEXT_TEXT = 3000
OUTSIDE_TEXT = st.one_of(hostile_text(max_size=300), huge_text())


def hot_lead(**payload: Any) -> Nudge:
    """A hot-lead nudge as models/services/nudges.py writes it, with the given facts."""
    facts: dict[str, Any] = {
        "lead": {"contact_id": 7, "name": "Ana Silva", "title": "VP", "company": "Globex"},
        "score": 91,
        "previous": 40,
        "band": "hot",
        "low_confidence": False,
        "model_version": 3,
        "reasons_for": ["visited the pricing page 3× in 7 days"],
        "reasons_against": [],
        "action": ["book a meeting", 12],
        "trigger": "email: Pilot",
        "snapshot_id": 1,
    }
    return Nudge(
        id=1,
        workspace_id=1,
        cause="hot_lead",
        dedupe_key="hot_lead:7:email:x",
        channel="D0REP01",
        payload=facts | payload,
    )


def texts(value: Any) -> Iterator[str]:
    """Every string anywhere in the blocks."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from texts(inner)


def assert_safe(text: str, blocks: list[dict[str, Any]]) -> None:
    for shown in (text, *texts(blocks)):
        live = LIVE_MARKUP.search(shown)
        assert live is None, f"live markup {live.group()!r} in {shown[:200]!r}"
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION
        elif block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER
        elif block["type"] == "context":
            for element in block["elements"]:
                assert len(element["text"]) <= MAX_CONTEXT_TEXT


@given(
    name=st.one_of(st.none(), OUTSIDE_TEXT),
    title=st.one_of(st.none(), OUTSIDE_TEXT),
    company=st.one_of(st.none(), OUTSIDE_TEXT),
    trigger=OUTSIDE_TEXT,
    reasons_for=st.lists(OUTSIDE_TEXT, max_size=60),
    reasons_against=st.lists(OUTSIDE_TEXT, max_size=60),
    action=st.one_of(st.none(), st.tuples(OUTSIDE_TEXT, st.integers(0, 100)).map(list)),
)
@example(
    name="<!channel> Eve & <@U999>",
    title="<#C1|general>",
    company="<https://evil.example|Globex>",
    trigger="email: <!here>",
    reasons_for=["<!everyone>"] * 200,
    reasons_against=["&lt;!channel&gt;", "<<!channel>>"],
    action=["<mailto:a@b.c|call>", 5],
)
def test_outside_text_never_pings_and_fits_block_kit(
    name: str | None,
    title: str | None,
    company: str | None,
    trigger: str,
    reasons_for: list[str],
    reasons_against: list[str],
    action: list[Any] | None,
) -> None:
    nudge = hot_lead(
        lead={"contact_id": 7, "name": name, "title": title, "company": company},
        trigger=trigger,
        reasons_for=reasons_for,
        reasons_against=reasons_against,
        action=action,
    )

    text, blocks = render_nudge(nudge)

    assert_safe(text, blocks)
    assert any(AUTOMATED in shown for shown in texts(blocks)), "C5.5: says it is automated"


def test_a_user_id_with_a_trailing_newline_is_not_a_mention() -> None:
    assert "<@" not in mention("U123\n")


def deal_payload(name: str | None, account: str | None, stage: str) -> dict[str, Any]:
    return {"deal_id": 3, "name": name, "stage": stage, "amount": 48000.0, "close_date": None,
            "account": account}  # fmt: skip


def assert_buttons_fit(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            assert len(element["text"]["text"]) <= MAX_BUTTON_TEXT
            assert len(element["value"]) <= MAX_BUTTON_VALUE


@given(
    name=st.one_of(st.none(), OUTSIDE_TEXT),
    account=st.one_of(st.none(), OUTSIDE_TEXT),
    stage=OUTSIDE_TEXT,
    idle=st.integers(0, 10_000),
    contacted_by=st.one_of(st.none(), OUTSIDE_TEXT),
)
@example(name="<!channel> renewal", account="<@U999>", stage="<#C1>", idle=20,
         contacted_by="<!here>")  # fmt: skip
def test_a_stale_deal_never_pings_and_fits_block_kit(
    name: str | None, account: str | None, stage: str, idle: int, contacted_by: str | None
) -> None:
    """Outside text stays inert, even a "who marked it" that is not a real user id."""
    nudge = Nudge(
        id=4, workspace_id=1, cause="stale_deal", dedupe_key="stale_deal:deal:3:x",
        channel="U0REP01", contact_id=7, deal_id=3,
        payload={"deal": deal_payload(name, account, stage), "idle_days": idle,
                 "last_activity": "2026-10-31T12:00:00+00:00", "stale_days": 14},
        notes={"contacted": {"by": contacted_by, "at": "2026-11-20T15:00:00+00:00"}}
        if contacted_by is not None else {},
    )  # fmt: skip

    text, blocks = render_nudge(nudge)

    assert_safe(text, blocks)
    assert_buttons_fit(blocks)
    assert AUTOMATED in blocks[-1]["elements"][0]["text"], "C5.5: ends saying it is automated"


@given(
    subject=st.one_of(st.none(), OUTSIDE_TEXT),
    name=OUTSIDE_TEXT,
    messages=st.lists(OUTSIDE_TEXT, max_size=80),
    no_next_step=st.booleans(),
    stale=st.booleans(),
    tz=st.sampled_from(["America/New_York", "Asia/Kolkata", "Not/AZone", "UTC"]),
)
@example(subject="<!everyone> sync", name="<!here>", messages=["<@U1>"] * 500,
         no_next_step=True, stale=True, tz="America/New_York")  # fmt: skip
def test_a_meeting_prep_never_pings_and_fits_block_kit(
    subject: str | None,
    name: str,
    messages: list[str],
    no_next_step: bool,
    stale: bool,
    tz: str,
) -> None:
    issues = [{"id": n, "rule": "rule", "message": m} for n, m in enumerate(messages, 1)]
    nudge = Nudge(
        id=5, workspace_id=1, cause="meeting_prep", dedupe_key="meeting_prep:x", channel="C1",
        deal_id=3, contact_id=None,
        payload={"deal": deal_payload(name, name, name),
                 "meeting": {"at": "2026-11-22T02:00:00+00:00", "tz": tz, "subject": subject},
                 "last_activity": None, "issues": issues, "no_next_step": no_next_step,
                 "stale": stale},
        notes={"snoozed": {"by": "<!channel>", "until": "2026-11-27T15:00:00+00:00"}},
    )  # fmt: skip

    text, blocks = render_nudge(nudge)

    assert_safe(text, blocks)
    assert_buttons_fit(blocks)
    assert AUTOMATED in blocks[-1]["elements"][0]["text"]
