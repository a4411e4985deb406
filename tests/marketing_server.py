"""A running Nudge for marketing webhook tests: the real aiohttp app, signed senders, probes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import SQLModel, col, func, select

from bot.config import AppConfig
from bot.inbox import Inbox
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.serve import connect_slack
from bot.web import INBOX, create_web_app
from models.activity import Activity, ActivityParticipant, Quarantine, RawItem, SkippedItem
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.learning import ScoreSnapshot
from models.nudge import Nudge
from tests.conftest import NOW, make_settings
from tests.fakes.slack_api import FakeSlackApi
from tests.marketing_signing import generic_headers, hubspot_headers

PUBLIC_URL = "https://nudge.example.com"
GENERIC_PATH = "/webhooks/marketing"
HUBSPOT_PATH = "/webhooks/marketing/hubspot"
GENERIC_SECRET = "generic-webhook-secret-0123456789"
HUBSPOT_SECRET = "hubspot-client-secret-0123456789"
LEADS_CHANNEL = "C0LEADS"
ANA = "ana.silva@globex.example"


@dataclass
class Served:
    """A running Nudge web app against the fake Slack API."""

    runtime: Runtime
    client: TestClient[web.Request, web.Application]
    inbox: Inbox
    fake: FakeSlackApi


@asynccontextmanager
async def serve(database_url: str, config: AppConfig, **secrets: Any) -> AsyncIterator[Served]:
    """The real aiohttp app, with the given webhook secrets set."""
    async with FakeSlackApi() as fake:
        settings = make_settings(
            database_url, slack_api_url=fake.base_url, public_url=PUBLIC_URL, **secrets
        )
        runtime = await open_runtime(settings, config, clock=lambda: NOW)
        try:
            bolt, poster = await connect_slack(runtime)
            app = create_web_app(runtime, bolt, poster)
            async with TestClient(TestServer(app)) as client:
                yield Served(runtime, client, app[INBOX], fake)
        finally:
            await close_runtime(runtime)


def at(moment: datetime) -> str:
    """ISO-8601 as trackers send it."""
    return moment.isoformat().replace("+00:00", "Z")


def web_event(kind: str, event_id: str, when: datetime, **fields: Any) -> dict[str, Any]:
    """One event of the generic shape."""
    return {"id": event_id, "type": kind, "occurred_at": at(when)} | fields


def batch(*events: object) -> bytes:
    """A generic body."""
    return json.dumps({"events": list(events)}).encode()


def hubspot_event(
    event_id: int, prop: str | None, value: str | None, **extra: Any
) -> dict[str, Any]:
    """One HubSpot contact property change for contact 123 of portal 62515."""
    occurred = int((NOW - timedelta(hours=2)).timestamp() * 1000) + event_id
    event = {
        "eventId": event_id, "subscriptionId": 2345, "portalId": 62515, "appId": 54321,
        "occurredAt": occurred, "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0, "objectId": 123, "changeSource": "FORM",
        "propertyName": prop, "propertyValue": value,
    }  # fmt: skip
    return event | extra


async def post(served: Served, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST a body; the status and the JSON answer."""
    response = await served.client.post(path, data=body, headers=headers)
    return response.status, await response.json()


async def send(served: Served, *events: object, timestamp: int | None = None) -> tuple[int, Any]:
    """POST a generic batch signed with the right secret."""
    body = batch(*events)
    return await post(
        served, GENERIC_PATH, body, generic_headers(GENERIC_SECRET, body, timestamp=timestamp)
    )


async def send_hubspot(
    served: Served, events: list[dict[str, Any]], *, timestamp_ms: int | None = None
) -> tuple[int, Any]:
    """POST a HubSpot batch signed as HubSpot signs it."""
    body = json.dumps(events).encode()
    headers = hubspot_headers(
        HUBSPOT_SECRET, PUBLIC_URL + HUBSPOT_PATH, body, timestamp_ms=timestamp_ms
    )
    return await post(served, HUBSPOT_PATH, body, headers)


async def settle(served: Served) -> None:
    """Wait for the app's own inbox to process every stored body, then check none is left.

    Waiting rather than processing here: a second processor would race the app's on SQLite.
    """
    for _ in range(100):
        async with unit_of_work(served.runtime.sessions) as session:
            query = select(RawItem.id).where(col(RawItem.processed_at).is_(None))
            if not (await session.exec(query)).all():
                break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("stored webhook bodies were not processed")
    assert await served.inbox.run_once() == 0


async def count(served: Served, table: type[SQLModel]) -> int:
    """Rows in a table."""
    async with unit_of_work(served.runtime.sessions) as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


async def contact_of(served: Served, email: str) -> Contact:
    """The contact behind an email address."""
    async with unit_of_work(served.runtime.sessions) as session:
        query = (
            select(Contact)
            .join(ContactIdentity, col(ContactIdentity.contact_id) == col(Contact.id))
            .where(ContactIdentity.kind == "email", ContactIdentity.value == email)
        )
        return (await session.exec(query)).one()


async def timeline(served: Served, contact: Contact) -> list[Activity]:
    """The contact's activities, oldest first."""
    async with unit_of_work(served.runtime.sessions) as session:
        query = (
            select(Activity)
            .join(ActivityParticipant, col(ActivityParticipant.activity_id) == col(Activity.id))
            .where(ActivityParticipant.contact_id == contact.id)
            .order_by(col(Activity.occurred_at))
        )
        return list((await session.exec(query)).all())


async def latest_features(served: Served, contact: Contact) -> dict[str, Any]:
    """The features of the contact's newest score."""
    async with unit_of_work(served.runtime.sessions) as session:
        query = (
            select(ScoreSnapshot)
            .where(ScoreSnapshot.contact_id == contact.id)
            .order_by(col(ScoreSnapshot.id).desc())
        )
        newest = (await session.exec(query)).first()
    assert newest is not None
    return dict(newest.features)


async def effects(served: Served) -> tuple[int, ...]:
    """Rows of everything capture writes: activities, links, contacts, scores, nudges, ..."""
    tables = (Activity, ActivityParticipant, Contact, ScoreSnapshot, Nudge, SkippedItem, Quarantine)
    return tuple([await count(served, table) for table in tables])
