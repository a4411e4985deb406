"""``nudge import-ics``: backfill meetings from .ics files through the one ingestion path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_support import cli_settings, fail
from bot.config import ConfigError, load_config


def import_ics(
    paths: Annotated[list[Path], typer.Argument(help=".ics files or folders of them.")],
) -> None:
    """Import meetings from calendar files; importing again changes nothing."""
    from bot.commands import with_runtime
    from bot.heap import freeze_startup_objects
    from bot.imports import import_ics as run_import

    settings = cli_settings()
    try:
        config = load_config(settings.config_path)
        freeze_startup_objects()
        counts = asyncio.run(with_runtime(settings, config, lambda rt: run_import(rt, paths)))
    except (ConfigError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


def register(app: typer.Typer) -> None:
    """Add ``import-ics`` to the ``nudge`` command."""
    app.command("import-ics")(import_ics)
