"""Fake of Slack's Socket Mode service: real WebSockets on loopback, served by aiohttp.

It attaches to a :class:`~tests.fakes.slack_api.FakeSlackApi`, which then answers
``apps.connections.open`` for the app-level token (``xapp-...``) with a one-use
``ws://127.0.0.1:PORT/link/?ticket=...&app_id=...`` URL, as Slack hands out ``wss://`` ones.
A client that connects is greeted with Slack's ``hello``; the test then pushes envelopes
(:meth:`FakeSocketMode.push`), awaits the client's acks (:meth:`FakeSocketMode.wait_for_ack`)
and can ask the client to reconnect (:meth:`FakeSocketMode.disconnect`) or drop the socket
(:meth:`FakeSocketMode.drop`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self

from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.slack_api import APP_ID, FakeSlackApi, Payload

APP_TOKEN = "xapp-1-A0001-test"
EnvelopeType = Literal["events_api", "slash_commands", "interactive"]
DisconnectReason = Literal["refresh_requested", "warning", "link_disabled", "too_many_websockets"]
# Interactive payloads whose ack may carry an answer (modal response_action, menu options).
_ANSWERABLE_INTERACTIONS = frozenset({"view_submission", "block_suggestion"})


@dataclass(frozen=True)
class SocketAck:
    """An acknowledgement the client sent: ``payload`` is None for a bare ack."""

    envelope_id: str
    payload: Payload | None
    connection: int


@dataclass
class SocketConnection:
    """One WebSocket a client opened; ``number`` counts connections from 1."""

    number: int
    ticket: str
    socket: web.WebSocketResponse = field(repr=False)
    closed: bool = False


class FakeSocketMode:
    """Slack's Socket Mode endpoint for one app.

    Use as ``async with FakeSocketMode(api) as sockets:`` or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self, api: FakeSlackApi, *, app_token: str = APP_TOKEN, app_id: str = APP_ID
    ) -> None:
        self.api = api
        self.app_token = app_token
        self.app_id = app_id
        self.connections: list[SocketConnection] = []
        self.envelopes: list[Payload] = []
        self.acks: list[SocketAck] = []
        self.unexpected: list[str] = []
        self._tickets: set[str] = set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None

    # Lifecycle

    async def start(self) -> None:
        """Serve on an ephemeral loopback port and answer ``apps.connections.open``."""
        if self._runner is not None:
            raise RuntimeError("FakeSocketMode is already started")
        app = web.Application()
        app.router.add_get("/link/", self._handle_link)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self._runner, self._origin = runner, f"ws://{host}:{port}"
        self.api.serve_app_level("apps.connections.open", self.app_token, self._connections_open)

    async def stop(self) -> None:
        """Close every open socket (going away), then stop serving."""
        for connection in self.live:
            await connection.socket.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # Test controls

    @property
    def live(self) -> list[SocketConnection]:
        """Connections that are still open, oldest first."""
        return [connection for connection in self.connections if not connection.closed]

    async def wait_for_connection(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is this helper's contract
    ) -> SocketConnection:
        """Wait until ``count`` connections have been greeted; return the ``count``-th."""
        await self._wait(lambda: len(self.connections) >= count, timeout, f"connection {count}")
        return self.connections[count - 1]

    async def wait_closed(
        self,
        connection: SocketConnection,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is this helper's contract
    ) -> None:
        """Wait until ``connection`` is closed."""
        await self._wait(lambda: connection.closed, timeout, f"close of {connection.number}")

    async def push(
        self,
        kind: EnvelopeType,
        payload: Payload,
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        connection: SocketConnection | None = None,
    ) -> str:
        """Send an envelope on ``connection`` (default: the newest open one); return its id.

        Like Slack, only ``events_api`` envelopes carry ``retry_attempt`` and ``retry_reason``;
        ``accepts_response_payload`` defaults to what Slack sends for the payload's kind.
        """
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or (
                kind == "interactive" and payload.get("type") in _ANSWERABLE_INTERACTIONS
            )
        envelope: Payload = {
            "envelope_id": envelope_id or str(uuid.uuid4()),
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
        target = connection or await self._newest_live()
        self.envelopes.append(envelope)
        await target.socket.send_json(envelope)
        return str(envelope["envelope_id"])

    def acks_for(self, envelope_id: str) -> list[SocketAck]:
        """Every ack received for ``envelope_id``, oldest first."""
        return [ack for ack in self.acks if ack.envelope_id == envelope_id]

    async def wait_for_ack(
        self,
        envelope_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is this helper's contract
    ) -> SocketAck:
        """Wait for the client to acknowledge ``envelope_id``; return the first ack."""
        await self._wait(lambda: bool(self.acks_for(envelope_id)), timeout, f"ack {envelope_id}")
        return self.acks_for(envelope_id)[0]

    async def disconnect(
        self,
        reason: DisconnectReason = "refresh_requested",
        connection: SocketConnection | None = None,
    ) -> None:
        """Tell the client to reconnect, as Slack does before it retires a socket.

        The socket stays open: a well-behaved client opens a new one and closes this one.
        """
        target = connection or await self._newest_live()
        await target.socket.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": self._debug_info(target)}
        )

    async def drop(self, connection: SocketConnection | None = None) -> None:
        """Close a socket from the server side without warning."""
        target = connection or await self._newest_live()
        await target.socket.close(code=WSCloseCode.GOING_AWAY, message=b"server restart")

    # Server side

    def _connections_open(self, _params: Payload) -> Payload:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"ok": True, "url": f"{self._origin}/link/?ticket={ticket}&app_id={self.app_id}"}

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets or request.query.get("app_id") != self.app_id:
            raise web.HTTPUnauthorized(text="invalid or used ticket")
        self._tickets.discard(ticket)  # each URL admits one connection, like Slack's
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        connection = SocketConnection(len(self.connections) + 1, ticket, socket)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self.live) + 1,
                "debug_info": self._debug_info(connection),
                "connection_info": {"app_id": self.app_id},
            }
        )
        self.connections.append(connection)
        await self._notify()
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    await self._receive(connection, message.data)
        finally:
            connection.closed = True
            await self._notify()
        return socket

    async def _receive(self, connection: SocketConnection, text: str) -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("envelope_id"), str):
            self.unexpected.append(text)
        else:
            payload = data.get("payload")
            answer = payload if isinstance(payload, dict) else None
            self.acks.append(SocketAck(data["envelope_id"], answer, connection.number))
        await self._notify()

    def _debug_info(self, connection: SocketConnection) -> Payload:
        return {
            "host": f"applink-fake-{connection.number}",
            "build_number": 1,
            "approximate_connection_time": 18060,
        }

    async def _newest_live(self) -> SocketConnection:
        await self._wait(lambda: bool(self.live), 5.0, "an open connection")
        return self.live[-1]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait(
        self,
        ready: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109 - every wait here is bounded
        what: str,
    ) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(ready)
        except TimeoutError:
            raise TimeoutError(
                f"waited {timeout}s for {what}; connections: {len(self.connections)}, "
                f"open: {len(self.live)}, acks: {len(self.acks)}"
            ) from None
