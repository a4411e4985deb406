"""What every `nudge` command shares: settings with logging set up, and a clean failure."""

from __future__ import annotations

import typer

from bot.logs import configure_logging
from bot.settings import Settings


def cli_settings() -> Settings:
    """Settings from the environment, with logging configured at their level."""
    settings = Settings()
    configure_logging(settings.log_level)
    return settings


def fail(message: str) -> typer.Exit:
    """Print ``nudge: message`` in red on stderr; raise the returned exit (code 2)."""
    typer.secho(f"nudge: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)
