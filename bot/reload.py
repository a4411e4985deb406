"""Reload app.yaml while serving: on SIGHUP, and when the file changes (checked every few s).

A valid file replaces ``runtime.config`` (and the scorer's bands), re-syncs the team, and,
when the hygiene rules changed, checks every record against the new rules. A file that
cannot be read or validated changes nothing: the running config stays and the error is
logged with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from bot.config import AppConfig, ConfigError, load_config
from bot.runtime import Runtime
from models.config import CrmConfig
from models.db import unit_of_work
from models.services.audit import record_audit
from models.services.hygiene import sweep
from models.services.roles import apply_roles
from models.services.workspaces import sync_team

log = structlog.get_logger(__name__)
CHECK_EVERY_S = 5.0


def _stamp(path: Path) -> tuple[int, int] | None:
    """What tells a changed file: modification time and size (None if missing)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def config_changes(before: CrmConfig, after: CrmConfig) -> dict[str, tuple[Any, Any]]:
    """The ``crm:`` sections a reload changed, as (before, after) for the audit trail.

    The team is summarised by its size: who is on it lives in the users table.

    >>> from datetime import time
    >>> old = CrmConfig()
    >>> config_changes(old, old.model_copy(update={"digest_time": time(7, 0)}))
    {'digest_time': ('08:30:00', '07:00:00')}
    """
    was, now = before.model_dump(mode="json"), after.model_dump(mode="json")
    changed: dict[str, tuple[Any, Any]] = {}
    for name in was:
        if was[name] != now[name]:
            changed[name] = (
                (len(was[name]), len(now[name])) if name == "team" else (was[name], now[name])
            )
    return changed


class ConfigReloader:
    """Swaps the runtime's config for the file's when asked or when the file changes."""

    def __init__(self, runtime: Runtime, path: Path, *, every_s: float = CHECK_EVERY_S) -> None:
        self.runtime = runtime
        self.path = path
        self.every_s = every_s
        self._stamp = _stamp(path)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[bool]] = set()

    async def reload(self) -> bool:
        """Read, validate and apply the file; False (old config kept) if it is not usable."""
        async with self._lock:
            self._stamp = _stamp(self.path)
            try:
                config = load_config(self.path)
                self._compatible(config)
            except ConfigError as exc:
                log.error("config.reload_refused", path=str(self.path), reason=str(exc))
                return False
            try:
                await self._apply(config)
            except Exception:
                log.exception("config.reload_failed", path=str(self.path))
                return False
            log.info("config.reloaded", path=str(self.path),
                     hygiene_rules=[r.rule for r in config.crm.hygiene.active()])  # fmt: skip
            return True

    def _compatible(self, config: AppConfig) -> None:
        if config.crm.workspace != self.runtime.config.crm.workspace:
            raise ConfigError("crm.workspace changed: that takes a restart, not a reload")

    async def _apply(self, config: AppConfig) -> None:
        runtime, before = self.runtime, self.runtime.config.crm
        async with unit_of_work(runtime.sessions) as session:
            await sync_team(session=session, workspace_id=runtime.workspace_id,
                            team=config.crm.team)  # fmt: skip
            await apply_roles(session=session, workspace_id=runtime.workspace_id,
                              config=config.crm)  # fmt: skip
            changed = config_changes(before, config.crm)
            if changed:
                await record_audit(
                    session=session, workspace_id=runtime.workspace_id, actor="config",
                    action="config.changed", target_type="app.yaml", target_id="crm",
                    before={k: v[0] for k, v in changed.items()},
                    after={k: v[1] for k, v in changed.items()},
                )  # fmt: skip
        runtime.config = config
        runtime.scorer.config = config.crm.scoring
        if config.crm.hygiene != before.hygiene:
            await self._recheck_all()

    async def _recheck_all(self) -> None:
        """Every record against the new rules; a failure here leaves the new config in place."""
        runtime = self.runtime
        try:
            async with unit_of_work(runtime.sessions) as session:
                result = await sweep(session=session, workspace_id=runtime.workspace_id,
                                     config=runtime.config.crm, now=runtime.clock())  # fmt: skip
        except Exception:
            log.exception("hygiene.recheck_failed")
            return
        log.info("hygiene.rechecked", opened=len(result.opened), closed=len(result.closed))

    async def check(self) -> bool:
        """Reload if the file changed since last read; True when a new config was applied."""
        if _stamp(self.path) == self._stamp:
            return False
        return await self.reload()

    async def watch(self, stop: asyncio.Event) -> None:
        """Check the file until ``stop`` is set; an error in one check never ends the loop."""
        while not stop.is_set():
            try:
                await self.check()
            except Exception:
                log.exception("config.reload_failed", path=str(self.path))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)

    def on_sighup(self) -> None:
        """The SIGHUP handler: reload in the background."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """SIGHUP and the file watch, for as long as the block runs."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.on_sighup)
        stop = asyncio.Event()
        watcher = asyncio.create_task(self.watch(stop))
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            stop.set()
            await watcher
            await asyncio.gather(*self._tasks, return_exceptions=True)
