"""Slack's Web API as the outbox's transport: post, find a message already posted, update one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "user_not_found",
        "cannot_dm_bot",
        "account_inactive",
        "invalid_auth",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "missing_scope",
        "thread_not_found",
    }
)
log = structlog.get_logger(__name__)
LOOKUP_PAGES = 3
PAGE_SIZE = 200


class SendError(Exception):
    """A call that did not go through; ``retry_in`` seconds to wait, or permanent.

    ``uncertain`` says Slack may have acted anyway (a timeout, a server error after the
    request arrived): the message may exist, so look before posting again.
    """

    def __init__(
        self, reason: str, *, retry_in: float, permanent: bool = False, uncertain: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason, self.retry_in = reason, retry_in
        self.permanent, self.uncertain = permanent, uncertain


@dataclass(frozen=True, slots=True)
class Posted:
    """Where Slack put a message."""

    channel_id: str
    ts: str


def send_error(exc: SlackApiError) -> SendError:
    """What a Slack error means for a retry."""
    status = exc.response.status_code
    error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
    if status == 429:
        retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
        return SendError("ratelimited", retry_in=retry_after)
    if status >= 500:
        return SendError(f"slack {status}", retry_in=5, uncertain=True)
    return SendError(error or f"http {status}", retry_in=30, permanent=error in PERMANENT_ERRORS)


def _carries(message: dict[str, Any], nudge_id: int) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == "nudge" and str(payload.get("nudge_id")) == str(nudge_id)


class SlackTransport:
    """Posts with ``chat.postMessage``, finds with ``conversations.history`` / ``.replies``
    (``include_all_metadata``), updates with ``chat.update``; errors become :class:`SendError`.
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
        metadata: dict[str, Any],
    ) -> Posted:
        response = await self._call(
            self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
            )
        )
        return Posted(channel_id=str(response["channel"]), ts=str(response["ts"]))

    async def find(self, *, channel: str, thread_ts: str | None, nudge_id: int) -> Posted | None:
        """The newest messages of the channel (or the thread), searched for the nudge's id.

        A channel that cannot be read (a missing ``*:history`` scope, a channel given by
        name) is reported and treated as not holding it: better one message twice than none.
        A transient error raises :class:`SendError`, so the look is tried again later.
        """
        try:
            return await self._find(channel=channel, thread_ts=thread_ts, nudge_id=nudge_id)
        except SendError as exc:
            if not exc.permanent:
                raise
            log.warning("nudge.lookup_impossible", nudge_id=nudge_id, reason=exc.reason)
            return None

    async def _find(self, *, channel: str, thread_ts: str | None, nudge_id: int) -> Posted | None:
        channel_id = channel
        if channel[:1] in ("U", "W"):  # a DM addressed to a user: Slack names its channel
            opened = await self._call(self.client.conversations_open(users=channel))
            channel_id = str(opened["channel"]["id"])
        cursor: str | None = None
        for _page in range(LOOKUP_PAGES):
            if thread_ts is None:
                call = self.client.conversations_history(
                    channel=channel_id, include_all_metadata=True, limit=PAGE_SIZE, cursor=cursor
                )
            else:
                call = self.client.conversations_replies(
                    channel=channel_id, ts=thread_ts, include_all_metadata=True,
                    limit=PAGE_SIZE, cursor=cursor,
                )  # fmt: skip
            page = await self._call(call)
            for message in page.get("messages") or []:
                if _carries(message, nudge_id):
                    return Posted(channel_id=channel_id, ts=str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or cursor is None:
                return None
        return None

    async def update(
        self, *, channel_id: str, ts: str, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        """Replace a message; the same update twice leaves the same message."""
        await self._call(self.client.chat_update(channel=channel_id, ts=ts, text=text,
                                                 blocks=blocks))  # fmt: skip

    @staticmethod
    async def _call(request: Any) -> AsyncSlackResponse:
        try:
            response: AsyncSlackResponse = await request
        except SlackApiError as exc:
            raise send_error(exc) from exc
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise SendError(f"network: {type(exc).__name__}", retry_in=5, uncertain=True) from exc
        return response
