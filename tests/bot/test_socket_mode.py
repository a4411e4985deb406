"""``nudge serve --socket``: the same Bolt listeners, reached over Slack's Socket Mode protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select

from bot.config import AppConfig
from bot.imports import import_mail
from bot.outbox import OutboxPoster
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.serve import connect_slack, start_socket_mode
from bot.settings import Settings
from handlers.mail_files import find_mail
from models.db import unit_of_work
from models.learning import LearningLogEntry
from tests.conftest import NOW, REP, make_settings
from tests.fakes.slack_api import APP_ID, BOT_TOKEN, TEAM_ID, FakeSlackApi, SlackCall
from tests.fakes.socket_mode import APP_TOKEN, FakeSocketMode
from tests.mail_factory import eager_thread
from tests.slack_signing import DEFAULT_TRIGGER_ID, VERIFICATION_TOKEN, command_body, event_body


@dataclass
class World:
    """A running Nudge whose first nudge is in Slack, and Slack's fakes."""

    fake: FakeSlackApi
    sockets: FakeSocketMode
    runtime: Runtime
    settings: Settings
    bolt: AsyncApp
    poster: OutboxPoster
    nudge: SlackCall

    @property
    def channel(self) -> str:
        assert self.nudge.answer is not None
        return str(self.nudge.answer["channel"])

    @property
    def ts(self) -> str:
        assert self.nudge.answer is not None
        return str(self.nudge.answer["ts"])


@pytest.fixture
async def world(database_url: str, app_config: AppConfig, tmp_path: Path) -> AsyncIterator[World]:
    """Mail imported, the nudge posted by the poster; Socket Mode not yet connected."""
    async with FakeSlackApi() as fake, FakeSocketMode(fake, app_token=APP_TOKEN) as sockets:
        # A laptop set-up: app-level token, no signing secret.
        settings = make_settings(
            database_url,
            slack_api_url=fake.base_url,
            slack_app_token=SecretStr(APP_TOKEN),
            slack_signing_secret=None,
        )
        runtime = await open_runtime(settings, app_config, clock=lambda: NOW)
        try:
            folder = tmp_path / "mail"
            folder.mkdir()
            thread = eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2))
            for n, raw in enumerate(thread):
                (folder / f"{n:02d}.eml").write_bytes(raw)
            assert (await import_mail(runtime, find_mail([folder])))["stored"] == 8
            bolt, poster = await connect_slack(runtime)
            poster.pace_s = 0.0  # pacing has its own tests; here it would only add a second
            assert await poster.run_once() == 1
            (nudge,) = await fake.wait_for("chat.postMessage")
            yield World(fake, sockets, runtime, settings, bolt, poster, nudge)
        finally:
            await close_runtime(runtime)


async def _learning_rows(runtime: Runtime) -> list[LearningLogEntry]:
    async with unit_of_work(runtime.sessions) as session:
        return list((await session.exec(select(LearningLogEntry))).all())


async def _wait_for_rows(runtime: Runtime, count: int) -> list[LearningLogEntry]:
    rows: list[LearningLogEntry] = []
    for _ in range(200):
        rows = await _learning_rows(runtime)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} learning-log rows, found {len(rows)}")


async def _settle(
    before: set[asyncio.Task[Any]],
    timeout: float = 3.0,  # noqa: ASYNC109 - a bounded wait is this helper's contract
) -> set[asyncio.Task[Any]]:
    """Wait for the tasks started since ``before`` to finish; return those still running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        started = asyncio.all_tasks() - before - {asyncio.current_task()}
        if not started or loop.time() > deadline:
            return {task for task in started if not task.done()}
        await asyncio.sleep(0.01)


def _thumbs_up(world: World, *, event_id: str, removed: bool = False) -> dict[str, Any]:
    """The Events API payload of the rep's 👍 on the nudge (or its removal), as a dict."""
    event = {
        "type": "reaction_removed" if removed else "reaction_added",
        "user": REP.slack_id,
        "reaction": "+1",
        "item_user": "U0BOT",
        "item": {"type": "message", "channel": world.channel, "ts": world.ts},
        "event_ts": "1732530100.000200",
    }
    payload: dict[str, Any] = json.loads(event_body(event, event_id=event_id))
    return payload


def _slash(world: World, text: str) -> dict[str, str]:
    """A ``/crm`` slash-command payload as Socket Mode carries it (JSON, not a form)."""
    form = command_body(
        "/crm", text, user_id=REP.slack_id, channel_id=world.channel,
        response_url=world.fake.response_url(),
    )  # fmt: skip
    return dict(parse_qsl(form))


def _button_press(world: World, action_id: str) -> dict[str, Any]:
    """A ``block_actions`` payload for the rep pressing a button on the nudge."""
    assert world.nudge.answer is not None
    message = world.nudge.answer["message"]
    button = next(
        (block["block_id"], element)
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    )
    return {
        "type": "block_actions",
        "user": {"id": REP.slack_id, "username": "dana", "name": "dana", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "message", "message_ts": world.ts, "channel_id": world.channel,
                      "is_ephemeral": False},
        "trigger_id": DEFAULT_TRIGGER_ID,
        "team": {"id": TEAM_ID, "domain": "nudge-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": world.channel, "name": "directmessage"},
        "message": message,
        "state": {"values": {}},
        "response_url": world.fake.response_url(),
        "actions": [{**button[1], "block_id": button[0], "action_ts": "1732530200.000300"}],
    }  # fmt: skip


async def test_socket_mode_serves_reactions_retries_and_commands(world: World) -> None:
    fake, sockets, runtime = world.fake, world.sockets, world.runtime
    before = asyncio.all_tasks()
    handler = await start_socket_mode(world.bolt, world.settings)
    try:
        await sockets.wait_for_connection()
        (opened,) = fake.calls_to("apps.connections.open")
        assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
        assert not opened.failed
        version_before = runtime.scorer.version

        # 👍 on the nudge: acked at once, learned, confirmed in the nudge's thread.
        reaction = _thumbs_up(world, event_id="Ev0SOCKET1")
        first = await sockets.push("events_api", reaction)
        assert (await sockets.wait_for_ack(first)).payload is None
        (row,) = await _wait_for_rows(runtime, 1)
        assert (row.source, row.label) == ("reaction", True)
        assert runtime.scorer.version == version_before + 1
        assert await world.poster.run_once() == 1
        reply = (await fake.wait_for("chat.postMessage", count=2))[1]
        assert reply.params["thread_ts"] == world.ts
        assert ":+1:" in reply.params["text"]

        # Slack's redelivery of the same event teaches nothing more.
        quiet = asyncio.all_tasks()
        retry = await sockets.push("events_api", reaction, retry_attempt=1, retry_reason="timeout")
        await sockets.wait_for_ack(retry)
        assert not await _settle(quiet)
        assert len(await _learning_rows(runtime)) == 1
        assert runtime.scorer.version == version_before + 1
        assert await world.poster.run_once() == 0

        # Nor does a late redelivery after the rep took the 👍 back (it would re-learn it).
        taken_back = _thumbs_up(world, event_id="Ev0SOCKET2", removed=True)
        removal = await sockets.push("events_api", taken_back)
        await sockets.wait_for_ack(removal)
        assert [r.source for r in await _wait_for_rows(runtime, 2)] == ["reaction", "reversal"]
        quiet = asyncio.all_tasks()
        late = await sockets.push("events_api", reaction, retry_attempt=2, retry_reason="timeout")
        await sockets.wait_for_ack(late)
        assert not await _settle(quiet)
        assert len(await _learning_rows(runtime)) == 2

        # /crm help: acked empty, answered privately through the response_url.
        command = await sockets.push("slash_commands", _slash(world, "help"))
        assert (await sockets.wait_for_ack(command)).payload is None
        (answer,) = await fake.wait_for("response_url")
        assert answer.params["response_type"] == "ephemeral"
        assert "/crm health" in answer.params["text"]

        envelopes = (first, retry, removal, late, command)
        assert [len(sockets.acks_for(e)) for e in envelopes] == [1] * len(envelopes)
        assert sockets.unexpected == []
        assert len(fake.calls_to("apps.connections.open")) == 1
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
    assert not await _settle(before)
    assert sockets.live == []


async def test_socket_mode_reconnects_when_slack_asks_or_drops(world: World) -> None:
    fake, sockets = world.fake, world.sockets
    before = asyncio.all_tasks()
    handler = await start_socket_mode(world.bolt, world.settings)
    try:
        first = await sockets.wait_for_connection(1)
        await sockets.disconnect("refresh_requested")
        second = await sockets.wait_for_connection(2)
        await sockets.wait_closed(first)  # the client retired the old socket itself

        # A button press over the new socket reaches the same listeners.
        press = await sockets.push("interactive", _button_press(world, "nudge_feedback_wrong"))
        ack = await sockets.wait_for_ack(press)
        assert ack.connection == second.number
        (row,) = await _wait_for_rows(world.runtime, 1)
        assert row.label is False

        # A socket closed by Slack without warning is replaced too.
        await sockets.drop(second)
        await sockets.wait_for_connection(3)
        command = await sockets.push("slash_commands", _slash(world, "health"))
        assert (await sockets.wait_for_ack(command)).connection == 3
        (answer,) = await fake.wait_for("response_url")
        assert "*Feedback* 1" in answer.params["text"]

        opened = fake.calls_to("apps.connections.open")
        assert len(opened) == 3
        assert {call.headers["Authorization"] for call in opened} == {f"Bearer {APP_TOKEN}"}
        assert [c.number for c in sockets.live] == [3]
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
    assert not await _settle(before)
    assert sockets.live == []


async def test_fake_socket_mode_checks_tokens_and_tickets_like_slack() -> None:
    async with FakeSlackApi() as fake, FakeSocketMode(fake) as sockets:
        for token, error in (
            (BOT_TOKEN, "not_allowed_token_type"),
            ("xapp-1-A0001-stolen", "invalid_auth"),
        ):
            with pytest.raises(SlackApiError) as raised:
                await AsyncWebClient(base_url=fake.base_url).apps_connections_open(app_token=token)
            assert raised.value.response["error"] == error

        client = AsyncWebClient(base_url=fake.base_url)
        url = str((await client.apps_connections_open(app_token=APP_TOKEN))["url"])
        assert url.startswith("ws://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url) as socket:
                hello = await socket.receive_json(timeout=5)
                assert hello["type"] == "hello"
                assert hello["connection_info"] == {"app_id": APP_ID}
                assert hello["num_connections"] == 1
                envelope_id = await sockets.push("slash_commands", {"command": "/crm"})
                envelope = await socket.receive_json(timeout=5)
                assert envelope["accepts_response_payload"] is True
                assert "retry_attempt" not in envelope
                await socket.send_json({"envelope_id": envelope_id, "payload": {"text": "hi"}})
                assert (await sockets.wait_for_ack(envelope_id)).payload == {"text": "hi"}
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url)  # a URL admits one connection
            assert refused.value.status == 401
        await sockets.wait_closed(sockets.connections[0])
