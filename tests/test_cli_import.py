"""`nudge import-mail`, then `nudge stats --json`: each message counted once, however often."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import FIXTURES, INTERNAL_DOMAIN, NOW, REP, ROOT
from tests.mail_factory import eager_thread


def cli_environment(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config naming the team's domain, and a fresh SQLite database in ``folder``, given to
    the ``nudge`` command through the environment."""
    document = yaml.safe_load((ROOT / "app.yaml").read_text())
    document["crm"]["internal_domains"] = [INTERNAL_DOMAIN, "example.com"]
    config = folder / "app.yaml"
    config.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("NUDGE_CONFIG", str(config))
    monkeypatch.setenv("NUDGE_DATABASE_URL", f"sqlite:///{folder / 'cli.db'}")
    return folder


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ``nudge`` command's environment (:func:`cli_environment`) in a temporary folder."""
    return cli_environment(tmp_path, monkeypatch)


def _mail_folder(root: Path) -> Path:
    folder = root / "inbox"
    shutil.copytree(FIXTURES / "mail", folder)
    for n, raw in enumerate(eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2))):
        (folder / f"thread-{n}.eml").write_bytes(raw)
    (folder / "garbage.eml").write_bytes(b"\x00\x01 this is not mail at all")
    return folder


def _stats() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output.strip().splitlines()[-1])
    return parsed


def test_importing_twice_counts_every_message_once(environment: Path) -> None:
    folder = _mail_folder(environment)
    first = CliRunner().invoke(app, ["import-mail", str(folder)])
    assert first.exit_code == 0, first.output
    after_first = _stats()
    second = CliRunner().invoke(app, ["import-mail", str(folder)])
    assert second.exit_code == 0, second.output
    assert "duplicate" in second.output
    after_second = _stats()

    assert after_second == after_first
    assert after_first["activities"]["email"] >= 8
    skipped = after_first["skipped"]
    assert skipped.get("auto-reply", 0) >= 1
    assert skipped.get("list", 0) + skipped.get("bulk", 0) >= 1
    assert after_first["quarantine"] >= 1
    assert after_first["contacts"] >= 1


def test_a_missing_path_is_a_clear_error(environment: Path) -> None:
    result = CliRunner().invoke(app, ["import-mail", str(environment / "nope")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
