"""``nudge digest``: queue digests now from the command line, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import ROOT
from tests.test_digest import MANAGER, TEAM_REP


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A manager and a rep in app.yaml, a fresh SQLite database, no Slack token (no chart)."""
    document = yaml.safe_load((ROOT / "app.yaml").read_text())
    document["crm"]["team"] = [m.model_dump(exclude_none=True) for m in (MANAGER, TEAM_REP)]
    config = tmp_path / "app.yaml"
    config.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("NUDGE_CONFIG", str(config))
    monkeypatch.setenv("NUDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    return tmp_path


def test_digest_queues_one_for_every_manager(environment: Path) -> None:
    result = CliRunner().invoke(app, ["digest"])
    assert result.exit_code == 0, result.output
    assert f"queued 1 digest(s): {MANAGER.slack_id}" in result.output
    result = CliRunner().invoke(app, ["digest", "--manager", TEAM_REP.slack_id])
    assert result.exit_code == 0, result.output
    stats = CliRunner().invoke(app, ["stats", "--json"])
    assert json.loads(stats.output.strip().splitlines()[-1])["nudges"] == {"pending": 2}


def test_digest_for_someone_off_the_team_is_a_clear_error(environment: Path) -> None:
    result = CliRunner().invoke(app, ["digest", "--manager", "U0NOBODY"])
    assert result.exit_code == 2
    assert "U0NOBODY is not on the team" in result.output
