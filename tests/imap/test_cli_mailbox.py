"""``nudge mailbox add|list|remove`` edit a copy of app.yaml: comments kept, result validated."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from bot.cli_mailbox import register
from bot.config import AppConfig, load_config
from bot.runtime import close_runtime, open_runtime
from models.config import MailboxConfig
from models.db import unit_of_work
from models.services.mailboxes import Place, advance_checkpoint
from tests.conftest import NOW, ROOT, make_settings

SALES = ["mailbox", "add", "sales", "--host", "imap.example.com", "--user",
         "dana@acme-analytics.example", "--secret-env", "NUDGE_IMAP_SALES"]  # fmt: skip


@pytest.fixture
def config_file(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped app.yaml, named by NUDGE_CONFIG, and a database."""
    path = tmp_path / "app.yaml"
    shutil.copy(ROOT / "app.yaml", path)
    monkeypatch.setenv("NUDGE_CONFIG", str(path))
    monkeypatch.setenv("NUDGE_DATABASE_URL", database_url)
    monkeypatch.delenv("NUDGE_IMAP_SALES", raising=False)
    return path


def nudge(*args: str) -> Result:
    """Run the commands that :func:`register` adds, as ``nudge`` would."""
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, list(args))


def test_add_list_remove_round_trip_keeps_comments_and_layout(config_file: Path) -> None:
    original = config_file.read_text()
    head, tail = original.split("  mailboxes: []\n")

    added = nudge(*SALES, "--folder", "INBOX", "--folder", "Deals", "--backfill-days", "14")
    assert added.exit_code == 0, added.output
    assert "added mailbox 'sales'" in added.output
    assert "set NUDGE_IMAP_SALES in the environment" in added.output
    support = nudge("mailbox", "add", "support", "--host", "mail.internal", "--user", "support",
                    "--secret-env", "SUPPORT_TOKEN", "--no-ssl", "--auth", "xoauth2")  # fmt: skip
    assert support.exit_code == 0, support.output

    text = config_file.read_text()
    assert text.startswith(head)
    assert text.endswith(tail)
    assert "    - name: sales\n      host: imap.example.com\n" in text
    assert "      folders: [INBOX, Deals]\n" in text
    assert load_config(config_file).crm.mailboxes == (
        MailboxConfig(name="sales", host="imap.example.com", user="dana@acme-analytics.example",
                      secret_env="NUDGE_IMAP_SALES", folders=("INBOX", "Deals"), backfill_days=14),
        MailboxConfig(name="support", host="mail.internal", port=143, ssl=False, user="support",
                      auth="xoauth2", secret_env="SUPPORT_TOKEN"),
    )  # fmt: skip

    listed = nudge("mailbox", "list")
    assert listed.exit_code == 0, listed.output
    assert (
        "sales: dana@acme-analytics.example at imap.example.com:993, ssl, password" in listed.output
    )
    assert "support: support at mail.internal:143, plain, xoauth2" in listed.output
    assert "  Deals: no checkpoint yet" in listed.output
    assert "NOT SET" in listed.output

    for name in ("sales", "support"):
        removed = nudge("mailbox", "remove", name)
        assert removed.exit_code == 0, removed.output
        assert f"removed mailbox '{name}'" in removed.output
    assert config_file.read_text() == original


def test_refusals_name_the_problem_and_leave_the_file_alone(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert nudge(*SALES).exit_code == 0
    before = config_file.read_text()

    twice = nudge(*SALES)
    assert twice.exit_code == 2
    assert "a mailbox named 'sales' already exists" in twice.output
    unknown = nudge("mailbox", "remove", "billing")
    assert unknown.exit_code == 2
    assert "no mailbox named 'billing' (configured: sales)" in unknown.output
    bad_variable = nudge("mailbox", "add", "ops", "--host", "h", "--user", "u",
                         "--secret-env", "lower-case-is-no-variable")  # fmt: skip
    assert bad_variable.exit_code == 2
    assert "secret_env" in bad_variable.output
    assert ".tmp" not in bad_variable.output
    monkeypatch.setenv("OPS_PASSWORD", "hunter2-but-longer")
    leaked = nudge("mailbox", "add", "ops", "--host", "h", "--user", "hunter2-but-longer",
                   "--secret-env", "OPS_PASSWORD")  # fmt: skip
    assert leaked.exit_code == 2
    assert "secrets stay out of app.yaml" in leaked.output

    assert config_file.read_text() == before
    assert "hunter2" not in before
    assert not list(config_file.parent.glob(".app.yaml.*"))


def test_list_shows_each_folder_checkpoint_from_the_database(
    config_file: Path, database_url: str, app_config: AppConfig
) -> None:
    assert nudge(*SALES, "--folder", "INBOX", "--folder", "Deals").exit_code == 0
    asyncio.run(_checkpoint(database_url, app_config, "sales", "INBOX", 42))
    asyncio.run(_checkpoint(database_url, app_config, "archive", "INBOX", 7))

    listed = nudge("mailbox", "list")
    assert listed.exit_code == 0, listed.output
    assert "  INBOX: last UID 42 (UIDVALIDITY 1795603776), at 2026-11-20 15:00:00 UTC" in (
        listed.output
    )
    assert "  Deals: no checkpoint yet" in listed.output
    assert "archive (not in app.yaml): INBOX: last UID 7" in listed.output


async def _checkpoint(
    database_url: str, config: AppConfig, mailbox: str, folder: str, uid: int
) -> None:
    runtime = await open_runtime(make_settings(database_url), config)
    try:
        async with unit_of_work(runtime.sessions) as session:
            place = Place(runtime.workspace_id, mailbox, folder, uidvalidity=1795603776)
            await advance_checkpoint(session=session, place=place, uid=uid, now=NOW)
    finally:
        await close_runtime(runtime)


def test_listen_refuses_without_mailboxes_or_their_secrets(config_file: Path) -> None:
    nothing = nudge("listen")
    assert nothing.exit_code == 2
    assert "no mailboxes in app.yaml" in nothing.output
    assert nudge(*SALES).exit_code == 0
    unset = nudge("listen")
    assert unset.exit_code == 2
    assert "set NUDGE_IMAP_SALES in the environment" in unset.output
