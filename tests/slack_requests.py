"""Signed requests through the real Bolt app, and the private answers Nudge sent back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.app import create_bolt_app, create_web_client
from bot.runtime import Runtime
from tests.conftest import REP, SIGNING_SECRET
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.slack_signing import FORM_CONTENT_TYPE, command_body, signed_headers


def bolt_for(runtime: Runtime, fake: FakeSlackApi) -> AsyncApp:
    """The real Bolt app, its Web API pointed at the fake."""
    client = create_web_client(BOT_TOKEN, fake.base_url)
    return create_bolt_app(runtime, client=client, signing_secret=SIGNING_SECRET)


async def dispatch_signed(bolt: AsyncApp, body: str, content_type: str) -> None:
    """Hand Bolt a request signed as Slack signs it; it must be accepted."""
    headers: dict[str, str | Sequence[str]] = dict(
        signed_headers(body, SIGNING_SECRET, content_type=content_type)
    )
    response = await bolt.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    assert response.status == 200, response.body


async def answer_to(runtime: Runtime, fake: FakeSlackApi, body: str) -> dict[str, Any]:
    """Send a signed form request (command or button); what Nudge sent to its response URL."""
    seen = len(fake.calls_to("response_url"))
    await dispatch_signed(bolt_for(runtime, fake), body, FORM_CONTENT_TYPE)
    return (await fake.wait_for("response_url", count=seen + 1))[-1].params


async def crm_answer(
    runtime: Runtime, fake: FakeSlackApi, text: str, user_id: str = REP.slack_id
) -> dict[str, Any]:
    """Send ``/crm <text>`` as ``user_id``; the private answer."""
    body = command_body("/crm", text, user_id=user_id, response_url=fake.response_url())
    return await answer_to(runtime, fake, body)
