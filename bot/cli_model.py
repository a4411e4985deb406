"""``nudge model versions | rollback VERSION | rebuild --without-user U`` (each audited)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.cli_support import cli_settings, fail
from bot.config import load_config
from bot.runtime import Runtime
from learning.rebuild import UnknownVersionError, versions
from models.db import unit_of_work

model_app = typer.Typer(help="The scoring model's saved versions: list, roll back, rebuild.")


@model_app.command("versions")
def list_versions() -> None:
    """The newest saved versions (snapshots) of the model."""
    from bot.commands import with_runtime

    settings = cli_settings()
    config = load_config(settings.config_path)

    async def work(runtime: Runtime) -> list[str]:
        async with unit_of_work(runtime.sessions) as session:
            rows = await versions(session=session, workspace_id=runtime.workspace_id)
        return [f"v{r.version:<6} {r.created_at:%Y-%m-%d %H:%M} outcomes {r.outcomes_seen}"
                for r in rows]  # fmt: skip

    for line in asyncio.run(with_runtime(settings, config, work)):
        typer.echo(line)


@model_app.command("rollback")
def rollback(version: Annotated[int, typer.Argument(min=0, help="A saved version.")]) -> None:
    """Make a saved version live again; later learning is kept but left out (audited)."""
    from bot.commands import with_runtime
    from bot.governance import rollback as run_rollback

    settings = cli_settings()
    config = load_config(settings.config_path)
    try:
        live = asyncio.run(
            with_runtime(settings, config, lambda rt: run_rollback(rt, version, actor="cli"))
        )
    except UnknownVersionError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"model v{live} is live (restart running workers to load it)")


@model_app.command("rebuild")
def rebuild(
    without_user: Annotated[
        str, typer.Option("--without-user", help="Slack user id whose feedback to leave out.")
    ],
) -> None:
    """Rebuild the model from the learning log without one person's feedback (audited)."""
    from bot.commands import with_runtime
    from bot.governance import rebuild_without_user

    user = without_user.strip()
    if not user or not user.isalnum():
        raise fail(f"{without_user!r} is not a Slack user id (like U0123ABC)")
    settings = cli_settings()
    config = load_config(settings.config_path)
    left_out = asyncio.run(
        with_runtime(settings, config, lambda rt: rebuild_without_user(rt, user, actor="cli"))
    )
    typer.echo(f"rebuilt without {left_out} update(s) from {user}")


def register(app: typer.Typer) -> None:
    """Add ``nudge model``."""
    app.add_typer(model_app, name="model")
