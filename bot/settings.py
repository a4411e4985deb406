"""Process settings from the environment; secrets never come from files in the repository.

>>> Settings(database_url="sqlite:///var/x.db").async_database_url
'sqlite+direct:///var/x.db'
>>> Settings(database_url="postgresql://u@h/db").async_database_url
'postgresql+asyncpg://u@h/db'
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.sqlite_direct import DRIVER as SQLITE_DRIVER

DEFAULT_DATABASE_URL = "sqlite:///var/nudge.db"
PLACEHOLDER_MARKERS = ("changeme", "placeholder", "your-", "xoxb-...", "todo", "example")
_ASYNC_DRIVERS = {
    "sqlite": f"sqlite+{SQLITE_DRIVER}",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}


class SettingsError(RuntimeError):
    """A setting is missing or unsafe; the message names the variable."""


def to_async_url(url: str) -> str:
    """Choose the async driver for a plain database URL."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError(f"NUDGE_DATABASE_URL is not a URL: {url!r}")
    return f"{_ASYNC_DRIVERS.get(scheme, scheme)}://{rest}"


def _is_placeholder(value: SecretStr | None) -> bool:
    if value is None:
        return True
    text = value.get_secret_value().strip().lower()
    return not text or any(marker in text for marker in PLACEHOLDER_MARKERS)


class Settings(BaseSettings):
    """Everything the process reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, validation_alias=AliasChoices("NUDGE_DATABASE_URL")
    )
    config_path: Path = Field(default=Path("app.yaml"), validation_alias="NUDGE_CONFIG")
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    twilio_auth_token: SecretStr | None = Field(default=None, validation_alias="TWILIO_AUTH_TOKEN")
    hubspot_client_secret: SecretStr | None = Field(
        default=None, validation_alias="HUBSPOT_CLIENT_SECRET"
    )
    webhook_secret: SecretStr | None = Field(default=None, validation_alias="NUDGE_WEBHOOK_SECRET")
    public_url: str = Field(default="http://localhost:3000", validation_alias="NUDGE_PUBLIC_URL")
    webhooks_to_private_networks: bool = Field(
        default=False, validation_alias="NUDGE_WEBHOOKS_TO_PRIVATE_NETWORKS"
    )
    log_level: str = Field(default="INFO", validation_alias="NUDGE_LOG_LEVEL")
    pseudonym_salt: SecretStr = Field(
        default=SecretStr("nudge-dev-salt"), validation_alias="NUDGE_PSEUDONYM_SALT"
    )

    @property
    def async_database_url(self) -> str:
        """The database URL with the async driver chosen for the user."""
        return to_async_url(self.database_url)

    @property
    def api_base_url(self) -> str:
        """Slack Web API base URL, always ending in a slash as slack_sdk expects."""
        return self.slack_api_url if self.slack_api_url.endswith("/") else self.slack_api_url + "/"

    def reveal(self, name: str) -> str:
        """The value of a secret setting by its variable name; refuses a missing one."""
        fields = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_APP_TOKEN": self.slack_app_token,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "HUBSPOT_CLIENT_SECRET": self.hubspot_client_secret,
            "NUDGE_WEBHOOK_SECRET": self.webhook_secret,
        }
        value = fields[name]
        if value is None or not value.get_secret_value().strip():
            raise SettingsError(f"{name} is not set")
        return value.get_secret_value()

    def require_slack(self, *, socket_mode: bool) -> None:
        """Refuse to serve with a missing or placeholder Slack secret, naming the variable."""
        needed: dict[str, SecretStr | None] = {"SLACK_BOT_TOKEN": self.slack_bot_token}
        if socket_mode:
            needed["SLACK_APP_TOKEN"] = self.slack_app_token
        else:
            needed["SLACK_SIGNING_SECRET"] = self.slack_signing_secret
        for name, value in needed.items():
            if _is_placeholder(value):
                raise SettingsError(
                    f"{name} is missing or still a placeholder: set it in the environment "
                    "(see README, 'Connect a Slack workspace')."
                )
        if self.pseudonym_salt.get_secret_value() == "nudge-dev-salt":
            raise SettingsError(
                "NUDGE_PSEUDONYM_SALT is the development default: set a random secret "
                "so pseudonymous ids in the learning log cannot be reversed."
            )
