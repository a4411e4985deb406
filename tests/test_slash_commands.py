"""`/crm help` and `/crm health` answer privately, through Slack's response_url."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from slack_bolt.request.async_request import AsyncBoltRequest

from bot.app import create_bolt_app, create_web_client
from bot.flows import capture
from bot.runtime import Runtime
from handlers.mail_capture import email_input
from tests.conftest import INTERNAL_DOMAIN, NOW, REP, SIGNING_SECRET
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.mail_factory import eager_thread
from tests.slack_signing import FORM_CONTENT_TYPE, command_body, signed_headers


async def _ask(
    runtime: Runtime, fake: FakeSlackApi, text: str, user_id: str = REP.slack_id
) -> dict[str, object]:
    bolt = create_bolt_app(
        runtime, client=create_web_client(BOT_TOKEN, fake.base_url), signing_secret=SIGNING_SECRET
    )
    body = command_body("/crm", text, user_id=user_id, response_url=fake.response_url())
    headers: dict[str, str | Sequence[str]] = dict(
        signed_headers(body, SIGNING_SECRET, content_type=FORM_CONTENT_TYPE)
    )
    seen = len(fake.calls_to("response_url"))
    response = await bolt.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    assert response.status == 200
    return (await fake.wait_for("response_url", count=seen + 1))[-1].params


async def test_help_lists_the_commands(runtime: Runtime) -> None:
    async with FakeSlackApi() as fake:
        answer = await _ask(runtime, fake, "help")
    assert answer["response_type"] == "ephemeral"
    assert "/crm health" in str(answer["text"])
    assert "Automated by Nudge" in str(answer["blocks"])


async def test_health_counts_what_nudge_holds(runtime: Runtime) -> None:
    for raw in eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2)):
        await capture(runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))
    async with FakeSlackApi() as fake:
        answer = await _ask(runtime, fake, "health")
    text = str(answer["text"])
    assert "email: 8" in text
    assert "*Contacts* 1" in text


async def test_unknown_verbs_are_escaped_and_answered_with_help(runtime: Runtime) -> None:
    async with FakeSlackApi() as fake:
        answer = await _ask(runtime, fake, "<!channel>")
    assert "<!channel>" not in str(answer["text"])
    assert "&lt;!channel&gt;" in str(answer["text"])


async def test_every_verb_checks_the_callers_role_before_running(runtime: Runtime) -> None:
    async with FakeSlackApi() as fake:
        stranger = await _ask(runtime, fake, "health", user_id="U0STRANGER")
        rep_audit = await _ask(runtime, fake, "audit", user_id=REP.slack_id)
        stranger_help = await _ask(runtime, fake, "help", user_id="U0STRANGER")
    assert "not on the sales team" in str(stranger["text"])
    assert "*Contacts*" not in str(stranger["text"])
    assert str(rep_audit["text"]).startswith("Only admins can use `/crm audit`; you are a rep.")
    assert "/crm health" in str(stranger_help["text"])
