"""C5.7 for Slack: a signed request sent again (same timestamp and signature) is refused, so
is a stale one; Slack's own retries of an event are signed anew and still have one effect."""

from __future__ import annotations

import asyncio
import time

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.runtime import Runtime
from bot.settings import Settings
from tests.conftest import SIGNING_SECRET, make_settings
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.test_reactions import _handled, _learning_log, _posted_nudge
from tests.slack_requests import bolt_for
from tests.slack_signing import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    command_body,
    event_body,
    retry_headers,
    signed_headers,
)


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake, so the poster posts there."""
    return make_settings(database_url, slack_api_url=fake.base_url)


async def send(bolt: AsyncApp, body: str, headers: dict[str, str]) -> BoltResponse:
    """Hand Bolt a request with exactly these headers."""
    return await bolt.async_dispatch(AsyncBoltRequest(body=body, headers=dict(headers)))


async def _answers(fake: FakeSlackApi) -> int:
    await asyncio.sleep(0.2)  # an answer, if one were coming, has been sent by now
    return len(fake.calls_to("response_url"))


async def test_a_slash_command_replayed_byte_for_byte_is_refused(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    bolt = bolt_for(runtime, fake)
    body = command_body("/crm", "help", user_id="U0REP01", response_url=fake.response_url())
    headers = signed_headers(body, SIGNING_SECRET, content_type=FORM_CONTENT_TYPE)
    assert (await send(bolt, body, headers)).status == 200
    await fake.wait_for("response_url", count=1)

    replayed = await send(bolt_for(runtime, fake), body, headers)  # on another worker too

    assert (replayed.status, replayed.body) == (401, "replayed request")
    assert await _answers(fake) == 1


async def test_a_correctly_signed_request_six_minutes_old_is_refused(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    body = command_body("/crm", "help", user_id="U0REP01", response_url=fake.response_url())
    stale = int(time.time()) - 6 * 60
    headers = signed_headers(body, SIGNING_SECRET, stale, content_type=FORM_CONTENT_TYPE)

    assert (await send(bolt_for(runtime, fake), body, headers)).status == 401
    assert await _answers(fake) == 0


async def test_an_event_retried_by_slack_reaches_the_event_id_check_and_acts_once(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    nudge = await _posted_nudge(runtime, fake)
    assert nudge.answer is not None
    event = {"type": "reaction_added", "user": "U0REP01", "reaction": "+1",
             "item_user": "U0BOT", "event_ts": "1732530100.000200",
             "item": {"type": "message", "channel": nudge.answer["channel"],
                      "ts": nudge.answer["ts"]}}  # fmt: skip
    body = event_body(event, event_id="EvRetried")
    now = int(time.time())
    first = signed_headers(body, SIGNING_SECRET, now, content_type=JSON_CONTENT_TYPE)
    retry = signed_headers(body, SIGNING_SECRET, now + 1, content_type=JSON_CONTENT_TYPE)
    retry |= retry_headers(1)

    assert (await send(bolt_for(runtime, fake), body, first)).status == 200
    assert (await send(bolt_for(runtime, fake), body, retry)).status == 200
    async with asyncio.timeout(5):
        while not await _handled(runtime, "EvRetried"):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # the retry, were it to act, has acted by now

    assert [source for source, _label, _weight in await _learning_log(runtime)] == ["reaction"]
    assert (await send(bolt_for(runtime, fake), body, retry)).status == 200  # a retry, again
    await asyncio.sleep(0.2)
    assert [source for source, _label, _weight in await _learning_log(runtime)] == ["reaction"]
