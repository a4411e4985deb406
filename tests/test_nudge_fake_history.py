"""The fake's ``conversations.history`` / ``.replies`` / ``chat.update`` behave as Slack's do,
so the poster's look-up is tested against the real wire format (through slack_sdk)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

METADATA = {"event_type": "nudge", "event_payload": {"nudge_id": 7}}


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeSlackApi, AsyncWebClient]]:
    async with FakeSlackApi() as fake:
        yield fake, AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)


async def test_history_pages_top_level_messages_newest_first_with_metadata_on_request(
    client: tuple[FakeSlackApi, AsyncWebClient],
) -> None:
    _fake, slack = client
    first = await slack.chat_postMessage(channel="U0REP01", text="one", metadata=METADATA)
    channel = first["channel"]
    await slack.chat_postMessage(channel=channel, text="reply", thread_ts=first["ts"])
    second = await slack.chat_postMessage(channel=channel, text="two")

    plain = await slack.conversations_history(channel=channel)
    assert [m["ts"] for m in plain["messages"]] == [second["ts"], first["ts"]]
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["messages"][1]["reply_count"] == 1

    page = await slack.conversations_history(channel=channel, include_all_metadata=True, limit=1)
    assert [m["ts"] for m in page["messages"]] == [second["ts"]]
    assert page["has_more"] is True
    cursor = page["response_metadata"]["next_cursor"]
    rest = await slack.conversations_history(
        channel=channel, include_all_metadata=True, limit=1, cursor=cursor
    )
    assert rest["messages"][0]["metadata"] == METADATA
    assert rest["has_more"] is False


async def test_replies_update_and_errors_look_like_slack(
    client: tuple[FakeSlackApi, AsyncWebClient],
) -> None:
    fake, slack = client
    parent = await slack.chat_postMessage(channel="C0SALES", text="parent")
    reply = await slack.chat_postMessage(
        channel="C0SALES", text="reply", thread_ts=parent["ts"], metadata=METADATA
    )

    thread = await slack.conversations_replies(
        channel="C0SALES", ts=parent["ts"], include_all_metadata=True
    )
    assert [m["ts"] for m in thread["messages"]] == [parent["ts"], reply["ts"]]
    assert thread["messages"][1]["metadata"] == METADATA

    await slack.chat_update(channel="C0SALES", ts=reply["ts"], text="edited")
    assert [m["text"] for m in fake.messages("C0SALES")] == ["parent", "edited"]

    for call in (
        slack.conversations_history(channel="C0NOWHERE"),
        slack.conversations_replies(channel="C0SALES", ts="1.000000"),
    ):
        with pytest.raises(SlackApiError) as raised:
            await call
        assert raised.value.response["error"] in ("channel_not_found", "thread_not_found")
