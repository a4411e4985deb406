"""A change made through any channel is visible through every other within a second (C6).

Each test writes through one channel, then polls another until the change shows, from the
moment the write was committed (the writer's answer comes after its commit). The delay is
logged as ``visibility.delay`` (``pytest -s`` shows it).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from itertools import count

import pytest
import structlog
from pydantic import SecretStr

from bot.config import AppConfig
from bot.flows import capture
from handlers.mail_capture import email_input
from tests.api.served import Api, serve_api
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.fakes.slack_api import FakeSlackApi
from tests.mail_factory import eager_thread
from tests.marketing_server import ANA, GENERIC_PATH, GENERIC_SECRET, batch, web_event
from tests.marketing_signing import generic_headers
from tests.slack.world import ask, open_home

WITHIN_S = 1.0
POLL_S = 0.02
Probe = Callable[[], Awaitable[bool]]
log = structlog.get_logger(__name__)


@pytest.fixture
async def api(database_url: str, app_config: AppConfig) -> AsyncIterator[Api]:
    """Nudge serving the API and the generic marketing webhook."""
    async with serve_api(
        database_url, app_config, webhook_secret=SecretStr(GENERIC_SECRET)
    ) as running:
        yield running


async def _visible_within_a_second(committed: float, probe: Probe) -> None:
    """Poll ``probe`` until it holds; fails unless it does within :data:`WITHIN_S` of the commit."""
    while not await probe():
        assert time.monotonic() - committed < WITHIN_S, "not visible within a second"
        await asyncio.sleep(POLL_S)
    delay = time.monotonic() - committed
    log.info("visibility.delay", probe=probe.__name__, seconds=round(delay, 4))
    assert delay < WITHIN_S


async def test_a_contact_created_through_the_api_answers_lead(api: Api, fake: FakeSlackApi) -> None:
    async def found() -> bool:
        answer = await ask(api.runtime, fake, "/lead", "priya natarajan")
        return "*Priya Natarajan* — CTO" in json.dumps(answer["blocks"], ensure_ascii=False)

    assert not await found()
    status, body = await api.call(
        "POST", "/contacts",
        json={"email": "priya@umbrella.example", "name": "Priya Natarajan", "title": "CTO"},
    )  # fmt: skip
    committed = time.monotonic()
    assert status == 201, body
    await _visible_within_a_second(committed, found)


async def test_a_contact_changed_through_the_api_shows_in_the_home(
    api: Api, fake: FakeSlackApi
) -> None:
    for raw in eager_thread((REP.name, REP.email), start=NOW - timedelta(days=3)):
        await capture(api.runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))
    status, page = await api.call("GET", "/contacts", params={"q": ANA})
    assert status == 200, page
    (ana,) = page["data"]
    events = count()

    async def shown() -> bool:
        seen = len(fake.calls_to("views.publish"))
        await open_home(api.runtime, fake, REP.slack_id, f"EvSeen{next(events)}")
        view = (await fake.wait_for("views.publish", count=seen + 1))[-1].params["view"]
        return "*Ana Silva-Reyes* — Globex" in json.dumps(view["blocks"], ensure_ascii=False)

    assert not await shown()
    status, body = await api.call(
        "PATCH", f"/contacts/{ana['id']}", json={"name": "Ana Silva-Reyes"}
    )
    committed = time.monotonic()
    assert status == 200, body
    await _visible_within_a_second(committed, shown)


async def test_a_webhook_activity_shows_in_the_api_profile(api: Api) -> None:
    status, ana = await api.call("POST", "/contacts", json={"email": ANA, "name": "Ana Silva"})
    assert status == 201, ana

    async def listed() -> bool:
        status, profile = await api.call("GET", f"/contacts/{ana['id']}/profile")
        assert status == 200, profile
        return any("Pricing sheet" in item["summary"] for item in profile["timeline"])

    assert not await listed()
    body = batch(web_event("form_fill", "f-1", NOW - timedelta(hours=1), email=ANA,
                           asset="Pricing sheet"))  # fmt: skip
    response = await api.client.post(
        GENERIC_PATH, data=body, headers=generic_headers(GENERIC_SECRET, body)
    )
    committed = time.monotonic()
    assert response.status == 200, await response.text()
    await _visible_within_a_second(committed, listed)
