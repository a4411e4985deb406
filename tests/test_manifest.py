"""app.yaml's Slack manifest and the registered Bolt listeners match in both directions; the
``/crm`` usage hint names every verb; the bot scopes cover every Web API method Nudge calls."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import yaml
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from typer.testing import CliRunner

from bot.app import SURFACES, create_bolt_app, create_web_client
from bot.cli import app as cli
from bot.config import AppConfig
from bot.runtime import Runtime
from handlers.slack.verbs import VERBS
from tests.conftest import ROOT, SIGNING_SECRET
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.slack_signing import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    command_body,
    event_body,
    signed_headers,
)

# The bot scopes each Slack Web API method (slack_sdk's name for it) or event needs; any one of
# a tuple will do (history: the scope of the kind of channel nudges go to).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth_test": (),
    "chat_postMessage": ("chat:write",),
    "chat_update": ("chat:write",),
    "chat_delete": ("chat:write",),
    "conversations_open": ("im:write",),
    "conversations_history": ("channels:history", "groups:history", "im:history"),
    "conversations_replies": ("channels:history", "groups:history", "im:history"),
    "files_upload_v2": ("files:write",),
    "usergroups_users_list": ("usergroups:read",),
    "users_info": ("users:read",),
    "views_open": (),
    "views_publish": (),
}
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_home_opened": (),
    "reaction_added": ("reactions:read",),
    "reaction_removed": ("reactions:read",),
    "user_change": ("users:read",),
}
_API_FAMILIES = (
    "admin|apps|auth|bookmarks|bots|calls|chat|conversations|dnd|emoji|files|pins|reactions|"
    "reminders|search|stars|team|usergroups|users|views"
)
_WEB_API_CALL = re.compile(rf"\bclient\.((?:{_API_FAMILIES})_\w+)\(")


def _called_methods() -> set[str]:
    """Every Web API method the product's code calls on a Slack client."""
    sources = [path for folder in ("bot", "handlers", "models", "learning")
               for path in (ROOT / folder).rglob("*.py")]  # fmt: skip
    return {m for path in sources for m in _WEB_API_CALL.findall(path.read_text())}


def _bot_scopes(config: AppConfig) -> set[str]:
    return set(config.slack["oauth_config"]["scopes"]["bot"])


async def _dispatch(bolt: AsyncApp, body: str, content_type: str) -> int:
    headers: dict[str, str | Sequence[str]] = dict(
        signed_headers(body, SIGNING_SECRET, content_type=content_type)
    )
    response = await bolt.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    return response.status


def _manifest_events(config: AppConfig) -> set[str]:
    return set(config.slack["settings"]["event_subscriptions"]["bot_events"])


def _manifest_commands(config: AppConfig) -> set[str]:
    return {c["command"] for c in config.slack["features"]["slash_commands"]}


def test_every_listener_is_declared_in_the_manifest(app_config: AppConfig) -> None:
    events = {e for s in SURFACES for e in getattr(s, "EVENTS", ())}
    commands = {c for s in SURFACES for c in getattr(s, "COMMANDS", ())}
    actions = {a for s in SURFACES for a in getattr(s, "ACTIONS", ())}
    assert events == _manifest_events(app_config)
    assert commands == _manifest_commands(app_config)
    assert bool(actions) == app_config.slack["settings"]["interactivity"]["is_enabled"]


async def test_every_manifest_entry_reaches_a_listener(
    runtime: Runtime, app_config: AppConfig
) -> None:
    """Bolt answers 404 to a request no listener takes; every declared one must be taken."""
    async with FakeSlackApi() as fake:
        bolt = create_bolt_app(
            runtime,
            client=create_web_client(BOT_TOKEN, fake.base_url),
            signing_secret=SIGNING_SECRET,
        )
        for n, event in enumerate(sorted(_manifest_events(app_config))):
            item = {"type": "message", "channel": "D0001", "ts": "1.000001"}
            body = event_body({"type": event, "user": "U0REP01", "reaction": "+1", "item": item},
                              event_id=f"EvManifest{n}")  # fmt: skip
            assert await _dispatch(bolt, body, JSON_CONTENT_TYPE) == 200, event
        for command in sorted(_manifest_commands(app_config)):
            body = command_body(command, "help", user_id="U0REP01",
                                response_url=fake.response_url())  # fmt: skip
            assert await _dispatch(bolt, body, FORM_CONTENT_TYPE) == 200, command
        unknown = event_body({"type": "app_mention", "user": "U1", "text": "hi"}, event_id="Ev9")
        assert await _dispatch(bolt, unknown, JSON_CONTENT_TYPE) == 404


def test_nudge_manifest_prints_the_slack_section(app_config: AppConfig) -> None:
    result = CliRunner().invoke(cli, ["manifest"])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed == app_config.slack
    assert "internal_domains" not in json.dumps(printed)


def test_the_crm_usage_hint_names_every_verb(app_config: AppConfig) -> None:
    (crm,) = (c for c in app_config.slack["features"]["slash_commands"] if c["command"] == "/crm")
    hinted = [word.strip() for word in crm["usage_hint"].split("|")]
    assert sorted(hinted) == sorted(VERBS)
    assert len(hinted) == len(set(hinted))


def test_the_bot_scopes_cover_every_web_api_method_called(app_config: AppConfig) -> None:
    called = _called_methods()
    assert {"chat_postMessage", "conversations_history", "files_upload_v2"} <= called
    assert called <= set(METHOD_SCOPES), "a new Web API method: add the scope it needs above"
    scopes = _bot_scopes(app_config)
    for method in sorted(called):
        needed = METHOD_SCOPES[method]
        assert not needed or scopes & set(needed), (method, needed)
    for event in _manifest_events(app_config):
        assert set(EVENT_SCOPES[event]) <= scopes, event
    assert "commands" in scopes
