"""Events out: written with the change, posted signed, retried after a failure, delivered once."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import AppConfig
from bot.deliveries import DELIVERY_HEADER, WebhookDeliverer
from bot.egress import PrivateAddressError, PublicOnlyResolver, is_public
from bot.runtime import Runtime
from handlers.signing import SignatureError, verify_generic
from models.db import unit_of_work
from models.hygiene import HygieneIssue
from models.integration import WebhookDelivery
from models.services.identity import resolve_contact
from models.services.inputs import PersonIn
from models.services.outbound import create_subscription, emit_event, emit_issue_events
from models.services.scoring import rescore_contact
from models.types import utcnow
from tests.api.served import Api, serve_api
from tests.conftest import NOW


@dataclass
class Receiver:
    """An outside system: checks each signature, fails the first ``failures`` posts."""

    secret: str = ""
    failures: int = 0
    attempts: list[str] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_generic(request.headers, body, self.secret, now=time.time())
        except SignatureError as exc:
            self.refused.append(str(exc))
            return web.json_response({"error": str(exc)}, status=401)
        delivery = request.headers[DELIVERY_HEADER]
        self.attempts.append(delivery)
        if len(self.attempts) <= self.failures:
            return web.json_response({"error": "down for maintenance"}, status=500)
        self.accepted.setdefault(delivery, await request.json())
        return web.json_response({"ok": True})


async def _subscribe(
    session: AsyncSession, runtime: Runtime, target: Receiver, url: str, *events: str
) -> None:
    """Subscribe ``url`` to these events; the receiver learns the signing secret."""
    subscription = await create_subscription(
        session=session, workspace_id=runtime.workspace_id, url=url, events=list(events),
        actor="test",
    )  # fmt: skip
    target.secret = subscription.secret


@pytest.fixture
async def private_api(database_url: str, app_config: AppConfig) -> AsyncIterator[Api]:
    """The API of a deployment whose webhook receivers are on its own network."""
    async with serve_api(database_url, app_config, webhooks_to_private_networks=True) as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """The receiver, served on a local port, and its URL."""
    target = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/nudge", target.handle)
    async with TestServer(app) as server:
        yield target, str(server.make_url("/hooks/nudge"))


async def test_a_failed_delivery_is_retried_and_accepted_once(
    runtime: Runtime, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    target.failures = 1
    async with unit_of_work(runtime.sessions) as session:
        await _subscribe(session, runtime, target, url, "score.changed", "hygiene.issue_opened")
        ana = await resolve_contact(
            session=session, workspace_id=runtime.workspace_id,
            person=PersonIn(email="ana.silva@globex.example", name="Ana Silva"), source="mail",
        )  # fmt: skip
        await rescore_contact(session=session, scorer=runtime.scorer, contact=ana, at=NOW)
        await emit_event(session, runtime.workspace_id, "hygiene.issue_closed", {"issue_id": 1})
    now = [utcnow()]
    deliverer = WebhookDeliverer(runtime.sessions, clock=lambda: now[0], allow_private=True)
    async with aiohttp.ClientSession() as http:
        assert await deliverer.run_once(http) == 0  # the receiver answers 500
        assert await deliverer.run_once(http) == 0  # not yet: the retry waits its backoff
        now[0] += timedelta(minutes=10)
        assert await deliverer.run_once(http) == 1  # retried and accepted
        now[0] += timedelta(hours=10)
        assert await deliverer.run_once(http) == 0  # nothing left to send
    assert target.refused == []
    assert len(target.attempts) == 2
    assert target.attempts[0] == target.attempts[1]  # the same delivery id both times
    (event,) = target.accepted.values()
    assert event["type"] == "score.changed"
    assert event["data"]["contact_id"] == ana.id
    assert event["data"]["score"] == ana.score
    assert event["data"]["previous_score"] is None
    assert "ana" not in str(event).lower()  # ids and numbers only, no personal details
    async with unit_of_work(runtime.sessions) as session:
        (row,) = (await session.exec(select(WebhookDelivery))).all()
    assert (row.state, row.attempts, row.event) == ("delivered", 2, "score.changed")


async def test_the_served_app_posts_events_for_changes_made_through_the_api(
    private_api: Api, receiver: tuple[Receiver, str]
) -> None:
    api = private_api
    target, url = receiver
    status, subscription = await api.call(
        "POST", "/webhooks", json={"url": url, "events": ["score.changed"]}
    )
    assert status == 201, subscription
    target.secret = subscription["secret"]
    status, listed = await api.call("GET", "/webhooks")
    assert "secret" not in listed["data"][0]
    status, contact = await api.call(
        "POST", "/contacts", json={"email": "bo@initech.example", "name": "Bo Chen"}
    )
    assert status == 201
    for _ in range(100):  # the background loop polls twice a second
        if target.accepted:
            break
        await asyncio.sleep(0.1)
    (event,) = target.accepted.values()
    assert event["data"]["contact_id"] == contact["id"]
    assert target.refused == []


async def test_a_stopped_subscription_gets_nothing_more(
    private_api: Api, receiver: tuple[Receiver, str]
) -> None:
    api = private_api
    _target, url = receiver
    _status, subscription = await api.call(
        "POST", "/webhooks", json={"url": url, "events": ["score.changed"]}
    )
    status, stopped = await api.call("DELETE", f"/webhooks/{subscription['id']}")
    assert status == 200
    assert stopped["disabled_at"] is not None
    await api.call("POST", "/contacts", json={"email": "bo@initech.example"})
    async with unit_of_work(api.runtime.sessions) as session:
        assert (await session.exec(select(WebhookDelivery))).all() == []


async def test_a_subscription_to_an_unknown_event_is_refused(api: Api) -> None:
    status, body = await api.call(
        "POST", "/webhooks", json={"url": "https://erp.example/hook", "events": ["deal.won"]}
    )
    assert (status, body["error"]) == (400, "invalid_body")


async def test_hygiene_issues_go_out_without_their_message(
    runtime: Runtime, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    async with unit_of_work(runtime.sessions) as session:
        await _subscribe(session, runtime, target, url, "hygiene.issue_opened")
        issue = HygieneIssue(
            workspace_id=runtime.workspace_id, rule="missing_owner", entity_type="contact",
            entity_id=7, message="Contact Mallory Jones has no owner.",
        )  # fmt: skip
        session.add(issue)
        await session.flush()
        assert await emit_issue_events(session, [issue], opened=True) == 1
        assert await emit_issue_events(session, [issue], opened=False) == 0  # not subscribed
    async with aiohttp.ClientSession() as http:
        assert await WebhookDeliverer(runtime.sessions, allow_private=True).run_once(http) == 1
    (event,) = target.accepted.values()
    assert event["type"] == "hygiene.issue_opened"
    assert event["data"]["rule"] == "missing_owner"
    assert (event["data"]["entity_type"], event["data"]["entity_id"]) == ("contact", 7)
    assert "Mallory" not in str(event)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data/",
            "http://localhost:8080/admin", "http://[::1]/hook", "http://10.0.0.7/hook"],
)  # fmt: skip
async def test_a_subscription_into_a_private_network_is_refused(api: Api, url: str) -> None:
    status, body = await api.call(
        "POST", "/webhooks", json={"url": url, "events": ["score.changed"]}
    )
    assert (status, body["error"]) == (400, "invalid_body")
    assert "private" in body["message"] or "this machine" in body["message"]
    status, _made = await api.call(
        "POST", "/webhooks", json={"url": "https://erp.example/hook", "events": ["score.changed"]}
    )
    assert status == 201


async def test_a_name_resolving_into_a_private_network_is_not_posted_to(
    runtime: Runtime, receiver: tuple[Receiver, str]
) -> None:
    """The name is only checked when it is resolved, on every connection (it can change)."""
    target, url = receiver
    name = socket.gethostname()  # this machine's own name: resolves to a non-public address
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(name, 80)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve here")
    if any(is_public(str(address)) for address in resolved):
        pytest.skip(f"this machine's name {name!r} resolves to a public address")
    by_name = url.replace("127.0.0.1", name)  # the same receiver, through a name
    async with unit_of_work(runtime.sessions) as session:
        await _subscribe(session, runtime, target, by_name, "hygiene.issue_closed")
        await emit_event(session, runtime.workspace_id, "hygiene.issue_closed", {"issue_id": 1})
    deliverer = WebhookDeliverer(runtime.sessions)
    async with deliverer.client() as http:
        assert await deliverer.run_once(http) == 0
    async with unit_of_work(runtime.sessions) as session:
        (row,) = (await session.exec(select(WebhookDelivery))).all()
    assert row.last_error is not None
    assert row.last_error.startswith("refused:")
    assert target.attempts == []
    with pytest.raises(PrivateAddressError):
        await PublicOnlyResolver().resolve("localhost", 80)
