"""``nudge purge`` asks before it erases (``--yes`` skips the question) and ``nudge export``
writes everything held about the person as JSON, from the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import NOW, REP
from tests.mail_factory import LEAD, eager_thread
from tests.test_cli_import import cli_environment

ANA_EMAIL = LEAD[1]


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config naming the team's domain and a fresh SQLite database holding Ana's mail."""
    cli_environment(tmp_path, monkeypatch)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n, raw in enumerate(eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2))):
        (inbox / f"{n}.eml").write_bytes(raw)
    assert CliRunner().invoke(app, ["import-mail", str(inbox)]).exit_code == 0
    return tmp_path


def _export(environment: Path) -> dict[str, object]:
    target = environment / "ana.json"
    done = CliRunner().invoke(app, ["export", "--email", ANA_EMAIL, "-o", str(target)])
    assert done.exit_code == 0, done.output
    document: dict[str, object] = json.loads(target.read_text(encoding="utf-8"))
    return document


def test_export_writes_what_is_held_and_purge_asks_first(environment: Path) -> None:
    held = _export(environment)
    assert ANA_EMAIL in json.dumps(held)

    declined = CliRunner().invoke(app, ["purge", "--email", ANA_EMAIL], input="n\n")
    assert declined.exit_code == 1
    assert "Erase everything held about this person?" in declined.output
    assert ANA_EMAIL in json.dumps(_export(environment))  # nothing was erased

    erased = CliRunner().invoke(app, ["purge", "--email", ANA_EMAIL, "--yes"])
    assert erased.exit_code == 0, erased.output
    assert "Erase everything" not in erased.output
    assert "erased 1 contact(s)" in erased.output
    assert _export(environment)["contacts"] == []  # only the address asked about remains
