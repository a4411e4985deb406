"""A mail subject carrying Slack markup reaches the hot-lead nudge it triggers as inert text:
captured through the product, posted by the real poster, read from the fake Slack Web API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.flows import capture
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.mail_capture import email_input
from tests.conftest import INTERNAL_DOMAIN, NOW, REP, make_settings
from tests.fakes.slack_api import FakeSlackApi
from tests.mail_factory import eager_thread
from tests.nudge_world import RAW_MARKUP, make_poster, posts, strings

SUBJECT = b"Acme Insights for Globex"
HOSTILE = b"<!channel> pricing <@U999> <https://evil.example|click>"


@pytest.fixture
def settings(database_url: str, fake: FakeSlackApi) -> Settings:
    """Settings whose ``SLACK_API_URL`` is the fake, so the poster posts there."""
    return make_settings(database_url, slack_api_url=fake.base_url)


async def test_a_subject_with_channel_markup_is_inert_in_the_hot_lead_nudge(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    for raw in eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2)):
        assert SUBJECT in raw
        hostile = raw.replace(SUBJECT, HOSTILE)
        await capture(runtime, email_input(hostile, internal_domains=frozenset({INTERNAL_DOMAIN})))
    assert await make_poster(runtime).run_once() == 1

    (nudge,) = posts(fake)
    shown = json.dumps(nudge.params["blocks"], ensure_ascii=False)
    assert "Hot lead" in nudge.params["text"]
    assert "after email: Re: &lt;!channel&gt; pricing &lt;@U999&gt; &lt;https://evil" in shown
    received = [nudge.params["text"], *strings(nudge.params["blocks"])]
    assert not [text for text in received for raw in RAW_MARKUP if raw in text]
