"""`/crm help` and `/crm health` answer privately, through Slack's response_url."""

from __future__ import annotations

from datetime import timedelta

from bot.flows import capture
from bot.runtime import Runtime
from handlers.mail_capture import email_input
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.fakes.slack_api import FakeSlackApi
from tests.mail_factory import eager_thread
from tests.slack_requests import crm_answer


async def test_help_lists_the_commands(runtime: Runtime) -> None:
    async with FakeSlackApi() as fake:
        answer = await crm_answer(runtime, fake, "help")
    assert answer["response_type"] == "ephemeral"
    assert "/crm health" in str(answer["text"])
    assert "Automated by Nudge" in str(answer["blocks"])


async def test_health_counts_what_nudge_holds(runtime: Runtime) -> None:
    for raw in eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2)):
        await capture(runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))
    async with FakeSlackApi() as fake:
        answer = await crm_answer(runtime, fake, "health")
    text = str(answer["text"])
    assert "email: 8" in text
    assert "*Contacts* 1" in text


async def test_unknown_verbs_are_escaped_and_answered_with_help(runtime: Runtime) -> None:
    async with FakeSlackApi() as fake:
        answer = await crm_answer(runtime, fake, "<!channel>")
    assert "<!channel>" not in str(answer["text"])
    assert "&lt;!channel&gt;" in str(answer["text"])


async def test_every_verb_checks_the_callers_role_before_running(runtime: Runtime) -> None:
    async with FakeSlackApi() as fake:
        stranger = await crm_answer(runtime, fake, "health", user_id="U0STRANGER")
        rep_audit = await crm_answer(runtime, fake, "audit", user_id=REP.slack_id)
        stranger_help = await crm_answer(runtime, fake, "help", user_id="U0STRANGER")
    assert "not on the sales team" in str(stranger["text"])
    assert "*Contacts*" not in str(stranger["text"])
    assert str(rep_audit["text"]).startswith("Only admins can use `/crm audit`; you are a rep.")
    assert "/crm health" in str(stranger_help["text"])
