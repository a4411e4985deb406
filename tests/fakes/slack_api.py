"""Table-driven fake of the Slack Web API, served over real HTTP by aiohttp.

Point slack_sdk at it with ``AsyncWebClient(token=..., base_url=fake.base_url)``.
Every request is recorded as a :class:`SlackCall`; answers come from per-method
defaults shaped like Slack's, which tests can replace (:meth:`FakeSlackApi.answer`)
or turn into HTTP failures for the next few calls (:meth:`FakeSlackApi.fail`).
Posted messages are kept per channel, so ``conversations.history`` and
``conversations.replies`` return them (with their metadata only when asked with
``include_all_metadata``, as Slack does) and ``chat.update`` changes them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

Payload = dict[str, Any]

BOT_TOKEN = "xoxb-test"
TEAM_ID = "T0001"
TEAM_NAME = "Nudge Test"
TEAM_URL = "https://nudge-test.slack.com/"
BOT_USER_ID = "U0BOT"
BOT_USER_NAME = "nudge"
BOT_ID = "B0BOT"
APP_ID = "A0001"
DEFAULT_TZ = "America/Los_Angeles"

_FIRST_TS_SECONDS = 1_732_530_000
_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
# Arguments that Slack expects as JSON; form-encoded requests carry them as JSON strings.
_JSON_ARGUMENTS = frozenset({"attachments", "blocks", "files", "metadata", "unfurls", "view"})
_HTTP_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}


@dataclass(frozen=True)
class SlackCall:
    """One Web API request received by the fake.

    ``params`` merges query string and body, with JSON arguments decoded;
    ``headers`` is case-insensitive; ``failed`` is true when the answer was not ``ok``;
    ``answer`` is the JSON the fake sent back.
    """

    method: str
    params: dict[str, Any]
    headers: Mapping[str, str]
    failed: bool = False
    answer: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Failure:
    status: int
    error: str
    retry_after: int


@dataclass(frozen=True)
class _User:
    tz: str
    real_name: str
    display_name: str
    email: str


def _error(error: str) -> Payload:
    return {"ok": False, "error": error}


def dm_channel_id(user_id: str) -> str:
    """The direct-message channel id the fake assigns to a user, e.g. U123 -> D123."""
    return "D" + user_id.removeprefix("U")


class FakeSlackApi:
    """A local Slack Web API speaking the real wire format.

    Use as ``async with FakeSlackApi(token="xoxb-test") as fake:`` or call
    :meth:`start` / :meth:`stop`. Uploaded file bytes land in :attr:`uploads`.
    """

    def __init__(self, token: str = BOT_TOKEN) -> None:
        self.token = token
        self.calls: list[SlackCall] = []
        self.uploads: dict[str, bytes] = {}
        self._answers: dict[str, Payload] = {}
        self._app_level: dict[str, tuple[str, Callable[[Payload], Payload]]] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._users: dict[str, _User] = {}
        self._upload_names: dict[str, str] = {}
        self._reactions: set[tuple[str, str, str]] = set()
        self._open_dms: set[str] = set()
        self._messages: dict[str, list[Payload]] = {}
        self._serial = 0
        self._recorded = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None
        self._defaults: dict[str, Callable[[Payload], Payload]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "reactions.add": self._reactions_add,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    # Lifecycle

    async def start(self) -> None:
        """Serve on an ephemeral loopback port."""
        if self._runner is not None:
            raise RuntimeError("FakeSlackApi is already started")
        app = web.Application(client_max_size=_MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_post("/respond/{hook:.+}", self._handle_response_url)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._origin = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving; recorded calls stay available."""
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

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._origin is None:
            raise RuntimeError("FakeSlackApi is not started")
        return self._origin

    @property
    def base_url(self) -> str:
        """The Web API root to pass to slack_sdk, ending with ``/api/``."""
        return f"{self.origin}/api/"

    # Test controls

    def answer(self, method: str, payload: Payload) -> None:
        """Answer every later call to ``method`` with ``payload`` (``ok`` defaults to true).

        Also makes methods without a default answer known to the fake.
        """
        self._answers[method] = {"ok": True, **payload}

    def serve_app_level(
        self, method: str, app_token: str, answer: Callable[[Payload], Payload]
    ) -> None:
        """Serve ``method`` to the app-level token only (``xapp-...``), as Slack does for
        ``apps.connections.open``; ``answer(params)`` builds each reply.
        """
        self._app_level[method] = (app_token, answer)

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: int = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls to ``method`` with HTTP ``status`` and an error body.

        A 429 carries ``Retry-After: retry_after``. ``error`` overrides the body's error code.
        """
        failure = _Failure(status, error or _HTTP_ERRORS.get(status, "fatal_error"), retry_after)
        self._failures.setdefault(method, deque()).extend([failure] * times)

    def set_user(
        self,
        user_id: str,
        *,
        tz: str = DEFAULT_TZ,
        real_name: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> None:
        """Configure the profile ``users.info`` returns for ``user_id``."""
        ZoneInfo(tz)  # reject unknown time zones here rather than at request time
        name = real_name or f"User {user_id}"
        self._users[user_id] = _User(
            tz=tz,
            real_name=name,
            display_name=display_name if display_name is not None else name.split()[0],
            email=email or f"{user_id.lower()}@example.com",
        )

    def messages(self, channel_id: str) -> list[Payload]:
        """Messages the fake holds for a channel id (a DM as ``D...``), replies included,
        oldest first, as they are now (after any ``chat.update``)."""
        return list(self._messages.get(channel_id, []))

    def calls_to(self, method: str) -> list[SlackCall]:
        """All recorded calls to ``method``, failed ones included, oldest first."""
        return [call for call in self.calls if call.method == method]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is this helper's contract
    ) -> list[SlackCall]:
        """Wait until ``count`` successful calls to ``method`` are recorded and return them."""

        def successful() -> list[SlackCall]:
            return [call for call in self.calls_to(method) if not call.failed]

        try:
            async with asyncio.timeout(timeout), self._recorded:
                await self._recorded.wait_for(lambda: len(successful()) >= count)
        except TimeoutError:
            seen = ", ".join(sorted({call.method for call in self.calls})) or "none"
            raise TimeoutError(
                f"waited {timeout}s for {count} successful {method} call(s), "
                f"got {len(successful())}; methods seen: {seen}"
            ) from None
        return successful()

    # HTTP handlers

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        failure = self._pop_failure(method)
        if failure is not None:
            await self._record(SlackCall(method, params, headers, failed=True))
            retry_headers = (
                {"Retry-After": str(failure.retry_after)} if failure.status == 429 else {}
            )
            return web.json_response(
                _error(failure.error), status=failure.status, headers=retry_headers
            )
        payload = self._answer_for(method, params, headers)
        await self._record(
            SlackCall(method, params, headers, failed=not payload.get("ok"), answer=payload)
        )
        return web.json_response(payload)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self._upload_names:
            return web.Response(status=404, text="Not Found")
        data = await request.read()
        self.uploads[file_id] = data
        return web.Response(text=f"OK - {len(data)}")

    def response_url(self, hook: str = "T0001/1/abc") -> str:
        """A ``response_url`` served by the fake; posts to it are recorded as ``response_url``."""
        return f"{self.origin}/respond/{hook}"

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        params = await _read_params(request)
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        await self._record(SlackCall("response_url", params, headers))
        return web.Response(text="ok")

    def _pop_failure(self, method: str) -> _Failure | None:
        pending = self._failures.get(method)
        return pending.popleft() if pending else None

    def _answer_for(self, method: str, params: Payload, headers: Mapping[str, str]) -> Payload:
        if method in self._app_level:
            app_token, answer = self._app_level[method]
            app_error = self._auth_error(params, headers, expected=app_token)
            return _error(app_error) if app_error else answer(params)
        if method not in self._answers and method not in self._defaults:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        auth_error = self._auth_error(params, headers)
        if auth_error is not None:
            return _error(auth_error)
        if method in self._answers:
            return self._answers[method]
        return self._defaults[method](params)

    def _auth_error(
        self, params: Payload, headers: Mapping[str, str], *, expected: str | None = None
    ) -> str | None:
        authorization = headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ").strip()
        else:
            token = params.get("token", "")
        if not token:
            return "not_authed"
        if expected is not None and token.startswith("xox"):
            return "not_allowed_token_type"  # a bot or user token where an app token is needed
        return None if token == (expected or self.token) else "invalid_auth"

    async def _record(self, call: SlackCall) -> None:
        self.calls.append(call)
        async with self._recorded:
            self._recorded.notify_all()

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _next_ts(self) -> str:
        micros = self._next_serial() * 100
        return f"{_FIRST_TS_SECONDS + micros // 1_000_000}.{micros % 1_000_000:06d}"

    # Default answers

    def _auth_test(self, _params: Payload) -> Payload:
        return {
            "ok": True,
            "url": TEAM_URL,
            "team": TEAM_NAME,
            "user": BOT_USER_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _bot_message(self, params: Payload, ts: str) -> Payload:
        message: Payload = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": params.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in params:
                message[key] = params[key]
        return message

    def _chat_post_message(self, params: Payload) -> Payload:
        channel = params.get("channel")
        if not channel:
            return _error("channel_not_found")
        if not any(params.get(key) for key in ("text", "blocks", "attachments")):
            return _error("no_text")
        ts = self._next_ts()
        if channel.startswith("U"):
            channel = dm_channel_id(channel)
        message = self._bot_message(params, ts)
        stored = self._messages.setdefault(channel, [])
        parent = next((m for m in stored if m["ts"] == params.get("thread_ts")), None)
        if parent is not None:
            parent.setdefault("thread_ts", parent["ts"])
            parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
            parent["latest_reply"] = ts
        stored.append(json.loads(json.dumps(message)))
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, params: Payload) -> Payload:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel:
            return _error("channel_not_found")
        if not ts:
            return _error("message_not_found")
        for stored in self._messages.get(channel, []):
            if stored["ts"] == ts:
                stored["text"] = params.get("text", stored.get("text", ""))
                if "blocks" in params:
                    stored["blocks"] = params["blocks"]
                stored["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": params.get("text", ""),
            "message": self._bot_message(params, ts),
        }

    def _chat_delete(self, params: Payload) -> Payload:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel:
            return _error("channel_not_found")
        if not ts:
            return _error("message_not_found")
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, params: Payload) -> Payload:
        if not params.get("channel"):
            return _error("channel_not_found")
        if not params.get("user"):
            return _error("user_not_found")
        return {"ok": True, "message_ts": self._next_ts()}

    def _conversations_open(self, params: Payload) -> Payload:
        users = [user for user in str(params.get("users", "")).split(",") if user]
        if not users:
            return _error("users_list_not_supplied")
        if len(users) == 1:
            channel_id = dm_channel_id(users[0])
        else:
            channel_id = "G" + "".join(user.removeprefix("U") for user in sorted(users))
        already_open = channel_id in self._open_dms
        self._open_dms.add(channel_id)
        return {
            "ok": True,
            "no_op": already_open,
            "already_open": already_open,
            "channel": {"id": channel_id},
        }

    def _page(self, params: Payload, messages: list[Payload]) -> Payload:
        """One page of messages as Slack pages them: ``limit``, an opaque ``next_cursor``,
        metadata only with ``include_all_metadata``."""
        try:
            limit = max(1, min(999, int(params.get("limit") or 100)))
            cursor = str(params.get("cursor") or "")
            offset = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        except ValueError:
            return _error("invalid_cursor")
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        page = [
            {k: v for k, v in m.items() if with_metadata or k != "metadata"}
            for m in messages[offset : offset + limit]
        ]
        more = offset + limit < len(messages)
        next_cursor = base64.b64encode(f"next:{offset + limit}".encode()).decode() if more else ""
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": next_cursor}}  # fmt: skip

    def _conversations_history(self, params: Payload) -> Payload:
        channel = str(params.get("channel") or "")
        if channel not in self._messages and channel not in self._open_dms:
            return _error("channel_not_found")
        stored = self._messages.get(channel, [])
        top = [m for m in stored if m.get("thread_ts") in (None, m["ts"])]
        return {**self._page(params, top[::-1]), "pin_count": 0}

    def _conversations_replies(self, params: Payload) -> Payload:
        channel, ts = str(params.get("channel") or ""), params.get("ts")
        if channel not in self._messages and channel not in self._open_dms:
            return _error("channel_not_found")
        stored = self._messages.get(channel, [])
        if not ts or not any(m["ts"] == ts for m in stored):
            return _error("thread_not_found")
        thread = [m for m in stored if m["ts"] == ts or m.get("thread_ts") == ts]
        return self._page(params, thread)

    def _users_info(self, params: Payload) -> Payload:
        user_id = params.get("user")
        if not user_id:
            return _error("user_not_found")
        if user_id not in self._users:
            self.set_user(user_id)
        user = self._users[user_id]
        offset = datetime.now(ZoneInfo(user.tz)).utcoffset()
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": TEAM_ID,
                "name": user.email.split("@")[0],
                "deleted": False,
                "real_name": user.real_name,
                "tz": user.tz,
                "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
                "is_bot": False,
                "is_admin": False,
                "profile": {
                    "real_name": user.real_name,
                    "real_name_normalized": user.real_name,
                    "display_name": user.display_name,
                    "display_name_normalized": user.display_name,
                    "email": user.email,
                    "team": TEAM_ID,
                },
            },
        }

    def _view(self, view: Payload, default_type: str) -> Payload:
        view_id = f"V{self._next_serial():010d}"
        return {
            "type": default_type,
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            **view,
            "id": view_id,
            "team_id": TEAM_ID,
            "state": {"values": {}},
            "hash": f"{_FIRST_TS_SECONDS}.{view_id}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }

    def _views_publish(self, params: Payload) -> Payload:
        view = params.get("view")
        if not params.get("user_id") or not isinstance(view, dict):
            return _error("invalid_arguments")
        return {"ok": True, "view": self._view(view, default_type="home")}

    def _views_open(self, params: Payload) -> Payload:
        view = params.get("view")
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        if not params.get("trigger_id"):
            return _error("invalid_trigger_id")
        return {"ok": True, "view": self._view(view, default_type="modal")}

    def _reactions_add(self, params: Payload) -> Payload:
        channel, timestamp, name = (params.get(k) for k in ("channel", "timestamp", "name"))
        if not channel or not timestamp:
            return _error("no_item_specified")
        if not name:
            return _error("invalid_name")
        reaction = (channel, timestamp, name)
        if reaction in self._reactions:
            return _error("already_reacted")
        self._reactions.add(reaction)
        return {"ok": True}

    def _files_get_upload_url(self, params: Payload) -> Payload:
        filename, length = params.get("filename"), params.get("length")
        if not filename or not length:
            return _error("invalid_arguments")
        file_id = f"F{self._next_serial():010d}"
        self._upload_names[file_id] = filename
        return {"ok": True, "upload_url": f"{self.origin}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: Payload) -> Payload:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            return _error("invalid_arguments")
        if any(item.get("id") not in self.uploads for item in files):
            return _error("file_not_found")
        return {
            "ok": True,
            "files": [
                {
                    "id": item["id"],
                    "name": self._upload_names[item["id"]],
                    "title": item.get("title") or self._upload_names[item["id"]],
                    "size": len(self.uploads[item["id"]]),
                    "user": BOT_USER_ID,
                }
                for item in files
            ],
        }


async def _read_params(request: web.Request) -> Payload:
    """Merge query string and body (JSON or form) the way Slack reads arguments."""
    params: Payload = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.text()
        if raw:
            params.update(json.loads(raw))
    else:
        form = await request.post()
        params.update((key, value) for key, value in form.items() if isinstance(value, str))
    for key in _JSON_ARGUMENTS & params.keys():
        if isinstance(params[key], str):
            with contextlib.suppress(json.JSONDecodeError):
                params[key] = json.loads(params[key])
    return params
