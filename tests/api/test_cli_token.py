"""`nudge token create|list|revoke`: acting as a team member, the secret printed once, stored
hashed, revocable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from models.services.tokens import token_hash
from tests.conftest import REP, ROOT


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SQLite database named by the environment, and one rep in app.yaml."""
    document = yaml.safe_load((ROOT / "app.yaml").read_text())
    document["crm"]["team"] = [REP.model_dump(exclude_none=True)]
    config = tmp_path / "app.yaml"
    config.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("NUDGE_CONFIG", str(config))
    path = tmp_path / "cli.db"
    monkeypatch.setenv("NUDGE_DATABASE_URL", f"sqlite:///{path}")
    return path


def _nudge(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_token_is_shown_once_stored_hashed_and_revoked(database: Path) -> None:
    code, output = _nudge("token", "create", "--name", "erp-sync", "--scopes",
                          "contacts:read,deals:write", "--as", REP.slack_id)  # fmt: skip
    assert code == 0, output
    secret = next(line for line in output.splitlines() if line.startswith("ndg_"))
    assert f"token 1 (erp-sync) as {REP.slack_id}: contacts:read deals:write" in output
    with sqlite3.connect(database) as connection:
        stored = connection.execute(
            "SELECT token_hash, apitoken.name, user.slack_user_id FROM apitoken "
            "JOIN user ON user.id = apitoken.user_id"
        ).fetchall()
        dumped = "\n".join(connection.iterdump())
    assert stored == [(token_hash(secret), "erp-sync", REP.slack_id)]
    assert secret not in dumped

    code, listed = _nudge("token", "list")
    assert code == 0
    assert "erp-sync" in listed
    assert f"as {REP.slack_id} (rep)" in listed
    assert "active" in listed
    assert secret not in listed

    assert _nudge("token", "revoke", "1") == (0, "token 1 (erp-sync) revoked\n")
    assert "revoked" in _nudge("token", "list")[1]
    code, output = _nudge("token", "revoke", "9")
    assert code == 2
    assert "no token 9" in output


def test_a_token_acts_as_a_member_found_by_email(database: Path) -> None:
    code, output = _nudge("token", "create", "--name", "bi", "--scopes", "deals:read",
                          "--as", REP.email.upper())  # fmt: skip
    assert code == 0, output
    assert f"as {REP.slack_id} (rep)" in _nudge("token", "list")[1]


def test_unknown_scopes_users_and_empty_names_are_refused(database: Path) -> None:
    code, output = _nudge("token", "create", "--name", "x", "--scopes", "contacts:delete",
                          "--as", REP.slack_id)  # fmt: skip
    assert code == 2
    assert "unknown scope 'contacts:delete'" in output
    code, output = _nudge("token", "create", "--name", " ", "--scopes", "deals:read",
                          "--as", REP.slack_id)  # fmt: skip
    assert code == 2
    assert "needs a name" in output
    code, output = _nudge("token", "create", "--name", "x", "--scopes", "deals:read",
                          "--as", "U0NOBODY")  # fmt: skip
    assert code == 2
    assert "no team member has the Slack user id or email 'U0NOBODY'" in output
    code, output = _nudge("token", "create", "--name", "x", "--scopes", "deals:read")
    assert code == 2
    assert "Missing option '--as'" in output
    assert "0 token(s)" in _nudge("token", "list")[1]
