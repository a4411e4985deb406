"""The bodies of the CLI commands, as coroutines over a runtime (tests call them too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.config import AppConfig
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.settings import Settings
from migrations.runner import upgrade
from models.db import create_engine, unit_of_work
from models.services.stats import workspace_stats

T = TypeVar("T")


async def run_migrate(settings: Settings) -> None:
    """Apply every migration."""
    engine = create_engine(settings.async_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def with_runtime(
    settings: Settings, config: AppConfig, work: Callable[[Runtime], Awaitable[T]]
) -> T:
    """Open a runtime, run ``work`` on it, and close it whatever happens."""
    runtime = await open_runtime(settings, config)
    try:
        return await work(runtime)
    finally:
        await close_runtime(runtime)


async def stats_of(runtime: Runtime) -> dict[str, Any]:
    """The workspace's counts."""
    async with unit_of_work(runtime.sessions) as session:
        return await workspace_stats(session=session, workspace_id=runtime.workspace_id)
