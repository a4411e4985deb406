"""Load app.yaml: the Slack manifest part and the typed ``crm:`` behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from models.config import CrmConfig


class ConfigError(RuntimeError):
    """app.yaml is missing or invalid; the message says where."""


@dataclass(frozen=True)
class AppConfig:
    """app.yaml, parsed: ``slack`` is the manifest as written, ``crm`` is validated."""

    slack: dict[str, Any]
    crm: CrmConfig


def load_config(path: Path) -> AppConfig:
    """Read and validate app.yaml."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} not found (set NUDGE_CONFIG to its location)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or "slack" not in document or "crm" not in document:
        raise ConfigError(f"{path} must have a 'slack:' and a 'crm:' section")
    try:
        crm = CrmConfig.model_validate(document["crm"])
    except ValidationError as exc:
        raise ConfigError(f"{path}, section crm: {exc}") from exc
    return AppConfig(slack=document["slack"], crm=crm)


def manifest_yaml(config: AppConfig) -> str:
    """The Slack app manifest, ready to paste into api.slack.com/apps."""
    return yaml.safe_dump(config.slack, sort_keys=False, allow_unicode=True)
