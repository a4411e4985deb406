"""``nudge audit verify`` and ``nudge audit prune``: what they print on a good, a tampered and
a pruned chain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from sqlalchemy import delete
from sqlmodel import col
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.config import load_config
from bot.runtime import close_runtime, open_runtime
from models.audit import AuditEntry
from models.db import unit_of_work
from models.services.audit import record_audit
from tests.conftest import ROOT, make_settings


@pytest.fixture
def database(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The database, and a config that keeps audit rows no time (prune takes them all)."""
    document = yaml.safe_load((ROOT / "app.yaml").read_text())
    document["crm"]["retention_days"]["audit"] = 0
    config = tmp_path / "app.yaml"
    config.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("NUDGE_CONFIG", str(config))
    monkeypatch.setenv("NUDGE_DATABASE_URL", database_url)
    return database_url


def nudge(*args: str) -> Result:
    """Run ``nudge`` with these arguments."""
    return CliRunner().invoke(app, list(args))


async def _append(database_url: str, count: int) -> list[int]:
    runtime = await open_runtime(make_settings(database_url), load_config(ROOT / "app.yaml"))
    try:
        async with unit_of_work(runtime.sessions) as session:
            rows = [
                await record_audit(session=session, workspace_id=None, actor="cli",
                                   action="role.set", target_type="user", target_id=n)
                for n in range(count)
            ]  # fmt: skip
    finally:
        await close_runtime(runtime)
    return [row.id for row in rows if row.id is not None]


async def _delete(database_url: str, *ids: int) -> None:
    runtime = await open_runtime(make_settings(database_url), load_config(ROOT / "app.yaml"))
    try:
        async with unit_of_work(runtime.sessions) as session:
            await session.exec(delete(AuditEntry).where(col(AuditEntry.id).in_(ids)))
    finally:
        await close_runtime(runtime)


def test_verify_passes_a_good_chain_and_names_the_deleted_newest_row(database: str) -> None:
    ids = asyncio.run(_append(database, 3))
    result = nudge("audit", "verify")
    assert (result.exit_code, result.output) == (0, "audit trail intact: 3 rows verified\n")

    asyncio.run(_delete(database, ids[2]))
    result = nudge("audit", "verify")
    assert (result.exit_code, result.output) == (
        1,
        f"audit trail broken at row {ids[2]}: missing, as is every row after row {ids[1]}: "
        "the newest rows were deleted (2 rows before it are intact)\n",
    )


def test_prune_keeps_the_chain_verifiable_and_its_head_guarded(database: str) -> None:
    ids = asyncio.run(_append(database, 3))
    result = nudge("audit", "prune")
    assert (result.exit_code, result.output) == (0, "pruned 3 audit row(s)\n")
    result = nudge("audit", "verify")
    assert (result.exit_code, result.output) == (0, "audit trail intact: 1 rows verified\n")

    pruned_receipt = ids[2] + 1
    asyncio.run(_delete(database, pruned_receipt))
    result = nudge("audit", "verify")
    assert result.exit_code == 1
    assert result.output.startswith(
        f"audit trail broken at row {pruned_receipt}: missing, as is every row after row {ids[2]}"
    )
