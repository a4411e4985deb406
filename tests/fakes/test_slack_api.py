"""The fake Slack API must look like Slack to slack_sdk's real AsyncWebClient."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import BOT_TOKEN, BOT_USER_ID, FakeSlackApi, dm_channel_id
from tests.slack_signing import (
    FORM_CONTENT_TYPE,
    action_body,
    command_body,
    event_body,
    retry_headers,
    signed_headers,
)

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme* went quiet"}}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(token=BOT_TOKEN) as api:
        yield api


@pytest.fixture
def client(fake: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)


async def test_post_message_with_blocks_returns_increasing_ts(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C0001", text="Acme", blocks=BLOCKS)
    second = await client.chat_postMessage(channel="U0042", text="hi", thread_ts=first["ts"])

    assert first["channel"] == "C0001"
    assert first["message"]["blocks"] == BLOCKS
    assert second["channel"] == dm_channel_id("U0042")
    assert second["message"]["thread_ts"] == first["ts"]
    assert float(second["ts"]) > float(first["ts"])
    [call, _] = fake.calls_to("chat.postMessage")
    assert call.params["blocks"] == BLOCKS
    assert call.headers["authorization"] == f"Bearer {BOT_TOKEN}"


@pytest.mark.parametrize(
    ("token", "error"), [("xoxb-someone-else", "invalid_auth"), (None, "not_authed")]
)
async def test_bad_token_is_rejected_like_slack(
    fake: FakeSlackApi, token: str | None, error: str
) -> None:
    intruder = AsyncWebClient(token=token, base_url=fake.base_url)

    with pytest.raises(SlackApiError) as raised:
        await intruder.auth_test()

    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == error
    assert fake.calls_to("auth.test")[0].failed


@pytest.mark.fault
async def test_rate_limit_retry_after_is_honoured(fake: FakeSlackApi) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    fake.fail("chat.postMessage", status=429, times=1, retry_after=1)

    started = time.monotonic()
    response = await client.chat_postMessage(channel="C0001", text="after the storm")

    assert response["ok"]
    assert time.monotonic() - started >= 1
    assert [call.failed for call in fake.calls_to("chat.postMessage")] == [True, False]


@pytest.mark.fault
async def test_server_error_fails_only_the_next_calls(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake.fail("users.info", status=503, times=1)

    with pytest.raises(SlackApiError) as raised:
        await client.users_info(user="U0042")

    assert raised.value.response.status_code == 503
    assert raised.value.response["error"] == "service_unavailable"
    assert (await client.users_info(user="U0042"))["ok"]


async def test_files_upload_v2_round_trip(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    response = await client.files_upload_v2(
        channel="C0001", content="name,score\nAcme,0.9\n", filename="leads.csv", title="Leads"
    )

    file_id = response["file"]["id"]
    assert response["file"]["title"] == "Leads"
    assert fake.uploads[file_id] == b"name,score\nAcme,0.9\n"
    [complete] = fake.calls_to("files.completeUploadExternal")
    assert complete.params["files"][0]["id"] == file_id
    assert complete.params["channel_id"] == "C0001"


async def test_form_and_query_arguments_are_read_like_slack(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake.set_user("U0042", tz="Europe/Paris", real_name="Ada Lovelace")

    await client.api_call(
        "chat.postMessage", data={"channel": "C0001", "blocks": json.dumps(BLOCKS)}
    )
    user = (await client.users_info(user="U0042"))["user"]

    assert fake.calls_to("chat.postMessage")[0].params["blocks"] == BLOCKS
    assert user["tz"] == "Europe/Paris"
    assert user["tz_offset"] in {3600, 7200}
    assert user["profile"]["real_name"] == "Ada Lovelace"


async def test_answer_overrides_and_unknown_methods(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake.answer("chat.postMessage", {"ok": False, "error": "channel_not_found"})

    with pytest.raises(SlackApiError) as not_found:
        await client.chat_postMessage(channel="C0404", text="lost")
    with pytest.raises(SlackApiError) as unknown:
        await client.api_call("crm.teleport")

    assert not_found.value.response["error"] == "channel_not_found"
    assert unknown.value.response["error"] == "unknown_method"


async def test_wait_for_returns_calls_made_in_the_background(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    task = asyncio.create_task(client.reactions_add(channel="C0001", timestamp="1.2", name="eyes"))

    [call] = await fake.wait_for("reactions.add")
    await task

    assert call.params == {"channel": "C0001", "timestamp": "1.2", "name": "eyes"}
    assert (await client.auth_test())["user_id"] == BOT_USER_ID
    with pytest.raises(TimeoutError, match=r"methods seen: auth\.test, reactions\.add"):
        await fake.wait_for("views.publish", timeout=0.05)


@pytest.mark.parametrize(
    "body",
    [
        event_body({"type": "app_mention", "text": "hi", "user": "U0042"}, event_id="Ev0001"),
        command_body("/nudge", "score Acme", user_id="U0042"),
        action_body({"type": "block_actions", "actions": [{"action_id": "snooze"}]}),
    ],
)
def test_signed_headers_satisfy_slack_sdk_verifier(body: str) -> None:
    headers = signed_headers(body, SIGNING_SECRET, content_type=FORM_CONTENT_TYPE)
    stale = signed_headers(body, SIGNING_SECRET, timestamp=int(time.time()) - 600)
    verifier = SignatureVerifier(SIGNING_SECRET)

    assert verifier.is_valid_request(body, {**headers, **retry_headers(1)})
    assert not verifier.is_valid_request(body, stale)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
