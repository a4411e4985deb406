"""Shared helpers of the nudge tests: nudges written by the real services, the real poster
talking to the fake Slack Web API, and readers of what Slack received."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.app import create_web_client
from bot.outbox import OutboxPoster, SlackTransport
from bot.runtime import Runtime
from learning.explain import Reason, Reasons
from learning.scorer import Score, band_of
from models.account import Account
from models.contact import Contact
from models.db import unit_of_work
from models.learning import ScoreSnapshot
from models.nudge import Nudge
from models.services.delivery import DeliveryRules
from models.services.nudges import LeadEvent, queue_hot_leads
from models.services.scoring import Scored
from models.types import utcnow
from models.workspace import User
from tests.conftest import REP
from tests.fakes.slack_api import FakeSlackApi, SlackCall

REP2 = REP.model_copy(
    update={"slack_id": "U0REP02", "email": "omar.haddad@acme-analytics.example",
            "name": "Omar Haddad"}
)  # fmt: skip
HOSTILE = "<!channel> Eve & <@U999>"
RAW_MARKUP = ("<!channel>", "<!here>", "<!everyone>", "<@U999>", "<https://", "<mailto:")
LATER = timedelta(minutes=10)


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_poster(
    runtime: Runtime,
    *,
    pace_s: float = 0.0,
    clock: Clock | None = None,
    rules: DeliveryRules | Callable[[], DeliveryRules] | None = None,
) -> OutboxPoster:
    """The real poster over the Slack URL in the settings; quiet hours and the hourly cap
    apply only when ``rules`` is given (``nudge serve`` always gives app.yaml's)."""
    client = create_web_client(
        runtime.settings.reveal("SLACK_BOT_TOKEN"), runtime.settings.api_base_url
    )
    return OutboxPoster(
        runtime.sessions, SlackTransport(client), pace_s=pace_s, clock=clock or Clock(),
        rules=rules,
    )  # fmt: skip


# --- writing nudges through the services ------------------------------------------------------


async def add_lead(
    runtime: Runtime,
    name: str,
    *,
    owner: str = REP.slack_id,
    title: str | None = "VP of Sales",
    company: str | None = "Globex",
) -> int:
    """A contact owned by the rep with Slack id ``owner``; returns its id."""
    async with unit_of_work(runtime.sessions) as session:
        user = (await session.exec(select(User).where(User.slack_user_id == owner))).one()
        account = None
        if company is not None:
            account = Account(workspace_id=runtime.workspace_id, name=company)
            session.add(account)
            await session.flush()
        contact = Contact(
            workspace_id=runtime.workspace_id,
            owner_id=user.id,
            name=name,
            title=title,
            account_id=account.id if account else None,
        )
        session.add(contact)
        await session.flush()
        assert contact.id is not None
        return contact.id


async def queue_lead(
    runtime: Runtime,
    contact_id: int,
    *,
    key: str,
    score: int = 85,
    previous: int | None = None,
    trigger: str = "an email from the lead",
    reasons: tuple[str, ...] = ("replies within 1 hour",),
    action: tuple[str, int] | None = None,
) -> Nudge:
    """Score the lead as hot now and let ``queue_hot_leads`` write its nudge."""
    now = utcnow()
    async with unit_of_work(runtime.sessions) as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None
        version = runtime.scorer.version
        snapshot = ScoreSnapshot(
            workspace_id=runtime.workspace_id,
            contact_id=contact_id,
            score=score,
            model_version=version,
            taken_at=now,
        )
        session.add(snapshot)
        await session.flush()
        why = Reasons(supporting=tuple(Reason("f", text, 0.5) for text in reasons), opposing=())
        value = Score(
            score, band_of(score, runtime.config.crm.scoring), False, why, action, version
        )
        assert snapshot.id is not None
        scored = Scored(
            score=value, previous=previous, features={}, snapshot_id=snapshot.id, taken_at=now
        )
        written = await queue_hot_leads(
            session=session, events=[LeadEvent(contact, scored, trigger, key)],
            config=runtime.config.crm, now=now,
        )  # fmt: skip
    (nudge,) = written  # queue_hot_leads wrote exactly one
    return nudge


async def new_lead_nudge(runtime: Runtime, name: str, *, owner: str = REP.slack_id) -> Nudge:
    """A fresh hot-lead nudge about a new contact."""
    contact_id = await add_lead(runtime, name, owner=owner)
    return await queue_lead(runtime, contact_id, key=f"email:{name}")


async def outbox(runtime: Runtime) -> dict[int, Nudge]:
    """Every nudge row as stored now, by id."""
    async with unit_of_work(runtime.sessions) as session:
        rows = (await session.exec(select(Nudge).order_by(col(Nudge.id)))).all()
    return {row.id: row for row in rows if row.id is not None}


# --- reading what Slack received --------------------------------------------------------------


def posts(fake: FakeSlackApi) -> list[SlackCall]:
    """Successful ``chat.postMessage`` calls, oldest first."""
    return [call for call in fake.calls_to("chat.postMessage") if not call.failed]


def failed_posts(fake: FakeSlackApi) -> list[SlackCall]:
    """HTTP attempts of ``chat.postMessage`` that Slack refused (slack_sdk's retries included)."""
    return [call for call in fake.calls_to("chat.postMessage") if call.failed]


def nudge_id(call: SlackCall) -> int:
    """The outbox id a message carries in its metadata."""
    return int(call.params["metadata"]["event_payload"]["nudge_id"])


def id_of(nudge: Nudge) -> int:
    """The id of a stored nudge."""
    assert nudge.id is not None
    return nudge.id


def posted_ids(fake: FakeSlackApi) -> list[int]:
    """The outbox ids of the messages Slack accepted, in the order it accepted them."""
    return [nudge_id(call) for call in posts(fake)]


def answer(call: SlackCall) -> dict[str, Any]:
    assert call.answer is not None
    return call.answer


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_disclosed(call: SlackCall) -> None:
    """The last block says the message is automated (C5.5)."""
    last = call.params["blocks"][-1]
    assert last["type"] == "context"
    assert "Automated by Nudge" in json.dumps(last, ensure_ascii=False)


def later(step: int = 1) -> datetime:
    """A moment past any backoff the poster may have set."""
    return utcnow() + step * LATER
