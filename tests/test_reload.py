"""app.yaml reloads without a restart: a new rule applies at once; a broken file changes nothing."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from bot.reload import ConfigReloader
from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.audit import AuditFilter, list_audit
from tests.conftest import REP, ROOT
from tests.hygiene_world import add_deal, make_world, open_issues


def _write(path: Path, rules: list[dict[str, Any]], *, raw: str | None = None) -> None:
    document = yaml.safe_load((ROOT / "app.yaml").read_text())
    document["crm"]["team"] = [REP.model_dump(mode="json", exclude_none=True)]
    document["crm"]["hygiene"] = {"rules": rules}
    path.write_text(raw if raw is not None else yaml.safe_dump(document, sort_keys=False))


def _rules(runtime: Runtime) -> list[str]:
    return [rule.rule for rule in runtime.config.crm.hygiene.active()]


async def test_a_new_rule_applies_on_reload_and_rechecks_records(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "app.yaml"
    _write(path, [])
    reloader = ConfigReloader(runtime, path)
    assert await reloader.reload()
    assert _rules(runtime) == []
    world = await make_world(runtime)
    deal = await add_deal(world, "Nobody's", owned=False)
    assert await reloader.check() is False  # unchanged file: nothing to do

    _write(path, [{"rule": "missing_owner", "applies_to": ["deal"]}])
    assert await reloader.check() is True
    assert _rules(runtime) == ["missing_owner"]
    assert await open_issues(world) == {("deal", deal, "missing_owner", "")}
    async with unit_of_work(runtime.sessions) as session:
        query = AuditFilter(action="config.changed", workspace_id=runtime.workspace_id)
        latest = (await list_audit(session=session, query=query))[0]
    assert latest.after is not None
    assert latest.after["hygiene"]["rules"][0]["rule"] == "missing_owner"


@pytest.mark.parametrize(
    ("raw", "rules", "reason"),
    [
        ("crm: [unclosed", [], "not valid YAML"),
        (None, [{"rule": "no_activity", "days": 0}], "days"),
        (None, [{"rule": "no_activity", "dayz": 3}], "dayz"),
    ],
)
async def test_a_broken_file_keeps_the_running_config(
    runtime: Runtime, tmp_path: Path, raw: str | None, rules: list[dict[str, Any]], reason: str
) -> None:
    path = tmp_path / "app.yaml"
    _write(path, [{"rule": "duplicate"}])
    reloader = ConfigReloader(runtime, path)
    assert await reloader.reload()
    _write(path, rules, raw=raw)
    with capture_logs() as logs:
        assert await reloader.check() is False
    assert _rules(runtime) == ["duplicate"]
    (refused,) = [entry for entry in logs if entry["event"] == "config.reload_refused"]
    assert refused["log_level"] == "error"
    assert reason in refused["reason"]


async def test_sighup_reloads(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    _write(path, [])
    reloader = ConfigReloader(runtime, path, every_s=3600)  # only the signal can reload
    assert await reloader.reload()
    async with reloader.running():
        _write(path, [{"rule": "close_date_past", "grace_days": 2}])
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(500):
            if _rules(runtime):
                break
            await asyncio.sleep(0.01)
    assert _rules(runtime) == ["close_date_past"]
