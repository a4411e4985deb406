"""`nudge token create|list|revoke`: the secret printed once, stored hashed, revocable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from models.services.tokens import token_hash


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SQLite database named by the environment."""
    path = tmp_path / "cli.db"
    monkeypatch.setenv("NUDGE_DATABASE_URL", f"sqlite:///{path}")
    return path


def _nudge(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_token_is_shown_once_stored_hashed_and_revoked(database: Path) -> None:
    code, output = _nudge("token", "create", "--name", "erp-sync", "--scopes",
                          "contacts:read,deals:write")  # fmt: skip
    assert code == 0, output
    secret = next(line for line in output.splitlines() if line.startswith("ndg_"))
    assert "token 1 (erp-sync): contacts:read deals:write" in output
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT token_hash, name FROM apitoken").fetchall()
        dumped = "\n".join(connection.iterdump())
    assert stored == [(token_hash(secret), "erp-sync")]
    assert secret not in dumped

    code, listed = _nudge("token", "list")
    assert code == 0
    assert "erp-sync" in listed
    assert "active" in listed
    assert secret not in listed

    assert _nudge("token", "revoke", "1") == (0, "token 1 (erp-sync) revoked\n")
    assert "revoked" in _nudge("token", "list")[1]
    code, output = _nudge("token", "revoke", "9")
    assert code == 2
    assert "no token 9" in output


def test_unknown_scopes_and_empty_names_are_refused(database: Path) -> None:
    code, output = _nudge("token", "create", "--name", "x", "--scopes", "contacts:delete")
    assert code == 2
    assert "unknown scope 'contacts:delete'" in output
    code, output = _nudge("token", "create", "--name", " ", "--scopes", "deals:read")
    assert code == 2
    assert "needs a name" in output
