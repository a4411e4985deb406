"""Nudge serving its webhooks over real HTTP, and what call tests need to talk to it.

Requests are signed here, not by the product: by the fake Twilio (tests/fakes/twilio.py)
and by an independent HMAC for the generic shape (docs/webhooks.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import SQLModel, select

from bot.config import AppConfig
from bot.imports import import_mail
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.serve import connect_slack
from bot.web import create_web_app
from handlers.mail_files import find_mail
from models.activity import Activity, ActivityParticipant
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.services.inbox import pending_raw
from tests.conftest import NOW, REP, make_settings
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.twilio import sid, signed_post, status_callback
from tests.mail_factory import eager_thread

TOKEN = "0123456789abcdef0123456789abcdef"
SECRET = "generic-webhook-secret-0123456789"
PUBLIC_URL = "https://nudge.example.com"
TWILIO_PATH = "/webhooks/calls/twilio"
GENERIC_PATH = "/webhooks/calls"
ANA_PHONE = "+14155550134"  # from Ana's mail signature (tests/mail_factory.py)
REP_PHONE = "+14155550111"
TWILIO_NUMBER = "+14155550100"
CALL = sid("CA", 0xA11)
CALL_END = NOW - timedelta(hours=1)
TRANSCRIPT = "Honestly the price is too expensive, but send over a discount and let's meet."
Client = TestClient[web.Request, web.Application]
Row = TypeVar("Row", bound=SQLModel)


@dataclass(frozen=True)
class Served:
    """The running app and what tests talk to."""

    client: Client
    runtime: Runtime

    async def twilio(
        self, params: dict[str, str], *, token: str = TOKEN, query: str = ""
    ) -> ClientResponse:
        """POST as Twilio does, signed for the URL Twilio was given."""
        body, headers = signed_post(f"{PUBLIC_URL}{TWILIO_PATH}{query}", params, token)
        return await self.client.post(TWILIO_PATH + query, data=body, headers=headers)

    async def generic(
        self, body: bytes, *, secret: str = SECRET, timestamp: int | None = None
    ) -> ClientResponse:
        return await self.client.post(
            GENERIC_PATH, data=body, headers=generic_headers(body, secret, timestamp)
        )


def generic_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The documented scheme: ``v1=`` + hex HMAC-SHA256 of ``"{timestamp}.{body}"``."""
    sent = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), str(sent).encode() + b"." + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Nudge-Timestamp": str(sent),
        "X-Nudge-Signature": f"v1={digest.hexdigest()}",
    }


def write_thread(folder: Path) -> Path:
    """Ana's mail thread with the rep, her signature carrying her phone number."""
    folder.mkdir()
    for n, raw in enumerate(eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2))):
        (folder / f"{n:02d}.eml").write_bytes(raw)
    return folder


@asynccontextmanager
async def serving(
    database_url: str, app_config: AppConfig, mail: Path | None, **secrets: Any
) -> AsyncIterator[Served]:
    """Nudge serving HTTP against the fake Slack; Ana known from mail when ``mail`` is given."""
    crm = app_config.crm.model_copy(update={"team": (REP.model_copy(update={"phone": REP_PHONE}),)})
    config = AppConfig(slack=app_config.slack, crm=crm)
    async with FakeSlackApi() as fake:
        settings = make_settings(
            database_url, slack_api_url=fake.base_url, public_url=PUBLIC_URL, **secrets
        )
        runtime = await open_runtime(settings, config, clock=lambda: NOW)
        try:
            if mail is not None:
                assert (await import_mail(runtime, find_mail([write_thread(mail)])))["stored"] == 8
            bolt, poster = await connect_slack(runtime)
            async with TestClient(TestServer(create_web_app(runtime, bolt, poster))) as client:
                yield Served(client, runtime)
        finally:
            await close_runtime(runtime)


def generic_call(**fields: Any) -> bytes:
    """A generic call body: the rep called Ana, with the transcript; ``fields`` override."""
    call = {
        "id": "pbx-7781",
        "direction": "outbound",
        "from": REP_PHONE,
        "to": "(415) 555-0134",
        "started_at": (NOW - timedelta(hours=2)).isoformat(),
        "ended_at": (NOW - timedelta(hours=2) + timedelta(minutes=9)).isoformat(),
        "duration_s": None,
        "rep_email": REP.email,
        "transcript": TRANSCRIPT,
        "notes": None,
    }
    return json.dumps(call | fields).encode()


def completed(call_sid: str = CALL, caller: str = ANA_PHONE) -> dict[str, str]:
    """Twilio's status callback for a finished inbound call of 340 s."""
    return status_callback(
        call_sid, "completed", caller=caller, called=TWILIO_NUMBER, at=CALL_END, duration_s=340
    )


async def settled(runtime: Runtime) -> None:
    """Wait until the background inbox has processed every stored body.

    Up to 15 s: a wake-up that arrives while the inbox is busy can be missed, and then
    the body waits for the inbox's 5-second poll.
    """
    for _ in range(750):
        async with unit_of_work(runtime.sessions) as session:
            if not await pending_raw(session=session, sources=frozenset({"twilio", "calls"})):
                return
        await asyncio.sleep(0.02)
    raise AssertionError("stored webhook bodies were not processed")


async def rows(runtime: Runtime, model: type[Row], *where: Any) -> list[Row]:
    """The rows of a table that match, read in a transaction of their own."""
    async with unit_of_work(runtime.sessions) as session:
        return list((await session.exec(select(model).where(*where))).all())


async def contact_with_phone(runtime: Runtime, phone: str) -> Contact:
    (identity,) = await rows(
        runtime, ContactIdentity, ContactIdentity.kind == "phone", ContactIdentity.value == phone
    )
    (contact,) = await rows(runtime, Contact, Contact.id == identity.contact_id)
    return contact


async def linked(runtime: Runtime, activity: Activity) -> list[int]:
    links = await rows(runtime, ActivityParticipant, ActivityParticipant.activity_id == activity.id)
    return [link.contact_id for link in links]


async def answer(response: ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    return dict(await response.json())
