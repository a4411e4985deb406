"""The bodies of the short CLI commands, as coroutines (tests call them directly too)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bot.config import AppConfig
from bot.flows import import_mail
from bot.runtime import close_runtime, open_runtime
from bot.settings import Settings
from migrations.runner import upgrade
from models.db import create_engine, unit_of_work
from models.services.stats import workspace_stats


async def run_migrate(settings: Settings) -> None:
    """Apply every migration."""
    engine = create_engine(settings.async_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def run_import_mail(settings: Settings, config: AppConfig, paths: list[Path]) -> Counter[str]:
    """Import mail files; returns what happened to each message."""
    runtime = await open_runtime(settings, config)
    try:
        return await import_mail(runtime, paths)
    finally:
        await close_runtime(runtime)


async def run_stats(settings: Settings, config: AppConfig) -> dict[str, Any]:
    """The workspace's counts."""
    runtime = await open_runtime(settings, config)
    try:
        async with unit_of_work(runtime.sessions) as session:
            return await workspace_stats(session=session, workspace_id=runtime.workspace_id)
    finally:
        await close_runtime(runtime)
