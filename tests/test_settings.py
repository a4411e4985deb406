"""Settings choose the async driver and refuse to serve with missing or placeholder secrets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import Settings, SettingsError, to_async_url


@pytest.mark.parametrize(
    ("plain", "async_url"),
    [
        ("sqlite:///var/nudge.db", "sqlite+direct:///var/nudge.db"),
        ("sqlite:////abs/path.db", "sqlite+direct:////abs/path.db"),
        ("postgresql://u:p@db:5432/crm", "postgresql+asyncpg://u:p@db:5432/crm"),
        ("postgres://u@db/crm", "postgresql+asyncpg://u@db/crm"),
        ("postgresql+asyncpg://u@db/crm", "postgresql+asyncpg://u@db/crm"),
    ],
)
def test_plain_urls_get_the_async_driver(plain: str, async_url: str) -> None:
    assert to_async_url(plain) == async_url


def test_a_url_without_a_scheme_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="NUDGE_DATABASE_URL"):
        to_async_url("var/nudge.db")


def test_environment_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUDGE_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-3")
    settings = Settings()
    assert settings.async_database_url == "postgresql+asyncpg://u@h/db"
    assert settings.api_base_url == "http://127.0.0.1:9/api/"
    assert "xoxb-1-2-3" not in repr(settings)


def _settings(**secrets: str) -> Settings:
    values = {k: SecretStr(v) for k, v in secrets.items()}
    return Settings.model_construct(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("secrets", "socket", "named"),
    [
        ({}, False, "SLACK_BOT_TOKEN"),
        ({"slack_bot_token": "xoxb-your-token"}, False, "SLACK_BOT_TOKEN"),
        ({"slack_bot_token": "xoxb-1-2"}, False, "SLACK_SIGNING_SECRET"),
        ({"slack_bot_token": "xoxb-1-2", "slack_signing_secret": "changeme"}, False,
         "SLACK_SIGNING_SECRET"),
        ({"slack_bot_token": "xoxb-1-2"}, True, "SLACK_APP_TOKEN"),
        ({"slack_bot_token": "xoxb-1-2", "slack_signing_secret": "a1b2c3"}, False,
         "NUDGE_PSEUDONYM_SALT"),
    ],
)  # fmt: skip
def test_serving_needs_real_secrets(secrets: dict[str, str], socket: bool, named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        _settings(**secrets).require_slack(socket_mode=socket)


def test_real_secrets_pass() -> None:
    settings = _settings(
        slack_bot_token="xoxb-1-2",
        slack_signing_secret="a1b2c3",
        slack_app_token="xapp-1-2",
        pseudonym_salt="k3y-f0r-pseudonyms",
    )
    settings.require_slack(socket_mode=False)
    settings.require_slack(socket_mode=True)


def test_nudge_serve_stops_with_a_message_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "SLACK_BOT_TOKEN is missing" in result.output
