"""The ``nudge`` command: serve, migrate, import mail, stats, manifest, demo."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_audit import register as register_audit
from bot.cli_backtest import register as register_backtest
from bot.cli_calendar import register as register_calendar
from bot.cli_digest import register as register_digest
from bot.cli_mailbox import register as register_mailbox_commands
from bot.cli_merge import register as register_merge
from bot.cli_model import register as register_model
from bot.cli_privacy import register as register_privacy
from bot.cli_support import cli_settings, fail
from bot.cli_token import register as register_tokens
from bot.config import ConfigError, load_config, manifest_yaml
from bot.logs import configure_logging
from bot.settings import Settings, SettingsError

app = typer.Typer(help="Nudge: the CRM that lives in Slack.", no_args_is_help=True)
register_calendar(app)
register_mailbox_commands(app)
register_merge(app)
register_backtest(app)
register_digest(app)
register_audit(app)
register_model(app)
register_privacy(app)
register_tokens(app)


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    from bot.commands import run_migrate

    asyncio.run(run_migrate(cli_settings()))
    typer.echo("database is up to date")


@app.command()
def manifest() -> None:
    """Print the Slack app manifest, ready to paste at api.slack.com/apps."""
    settings = cli_settings()
    try:
        typer.echo(manifest_yaml(load_config(settings.config_path)), nl=False)
    except ConfigError as exc:
        raise fail(str(exc)) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    socket: Annotated[bool, typer.Option("--socket", help="Use Socket Mode.")] = False,
) -> None:
    """Run Nudge: Slack listeners (HTTP or Socket Mode), webhooks and the outbox poster."""
    from bot.serve import run_serve

    settings = cli_settings()
    try:
        settings.require_slack(socket_mode=socket)
        config = load_config(settings.config_path)
    except (SettingsError, ConfigError) as exc:
        raise fail(str(exc)) from exc
    asyncio.run(run_serve(settings, config, host=host, port=port, socket_mode=socket))


@app.command("import-mail")
def import_mail(
    paths: Annotated[list[Path], typer.Argument(help=".eml files, folders or mbox files.")],
) -> None:
    """Backfill mail through the same path as live capture; importing again changes nothing."""
    from contextlib import nullcontext

    from rich.progress import Progress

    from bot.commands import with_runtime
    from bot.heap import freeze_startup_objects
    from bot.imports import import_mail as run_import
    from handlers.mail_files import find_mail
    from handlers.reading import PARALLEL_FROM, Readers

    settings = cli_settings()
    try:
        config = load_config(settings.config_path)
        files = find_mail(paths)
        total = sum(file.messages for file in files)
        freeze_startup_objects()
        # the reading processes start while the database opens
        with (
            Readers() if total >= PARALLEL_FROM else nullcontext() as readers,
            Progress(transient=True) as bar,
        ):
            task = bar.add_task("importing mail", total=total)

            def advance(done: int) -> None:
                bar.advance(task, done)

            counts = asyncio.run(
                with_runtime(
                    settings,
                    config,
                    lambda rt: run_import(rt, files, readers=readers, progress=advance),
                )
            )
    except (ConfigError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no messages found")


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Counts: activities by source, contacts, accounts, deals, nudges, feedback, model."""
    from bot.commands import stats_of, with_runtime

    settings = cli_settings()
    try:
        counts = asyncio.run(with_runtime(settings, load_config(settings.config_path), stats_of))
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(counts, sort_keys=True))
        return
    for key, value in counts.items():
        typer.echo(f"{key:>16}: {value}")


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the sample company.")] = 7,
    database: Annotated[Path, typer.Option(help="SQLite file for the demo.")] = Path("var/demo.db"),
) -> None:
    """Generate a sample company, run it through Nudge, show the nudges as Slack would."""
    from bot.demo import run_demo

    settings = Settings()
    configure_logging("WARNING")
    try:
        config = load_config(settings.config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    asyncio.run(run_demo(settings, config, seed=seed, database=database))


@app.command("import-deals")
def import_deals(
    path: Annotated[Path, typer.Argument(help="CSV of historical deals (see README).")],
) -> None:
    """Load accounts, contacts and deals from a CSV; won/lost outcomes train the model."""
    from bot.commands import with_runtime
    from bot.deals_import import import_deals as run_import
    from bot.heap import freeze_startup_objects

    settings = cli_settings()
    try:
        config = load_config(settings.config_path)
        freeze_startup_objects()
        counts, bad = asyncio.run(with_runtime(settings, config, lambda rt: run_import(rt, path)))
    except (ConfigError, FileNotFoundError, UnicodeDecodeError) as exc:
        raise fail(str(exc)) from exc
    for row in bad:
        typer.secho(f"line {row.line}: {row.reason}", fg=typer.colors.YELLOW, err=True)
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


quarantine_app = typer.Typer(help="Input Nudge could not read: list it, try it again.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    include_resolved: Annotated[
        bool, typer.Option("--all", help="Include resolved items.")
    ] = False,
) -> None:
    """Show quarantined items with their reasons."""
    from bot.commands import with_runtime
    from bot.quarantine import list_quarantine

    settings = cli_settings()
    config = load_config(settings.config_path)
    rows = asyncio.run(
        with_runtime(
            settings, config, lambda rt: list_quarantine(rt, include_resolved=include_resolved)
        )
    )
    for row in rows:
        state = "resolved" if row.resolved_at else "open"
        when = f"{row.received_at:%Y-%m-%d %H:%M}"
        typer.echo(f"{row.id:>6}  {when}  {row.source:<10} {state:<8} {row.reason}")
    typer.echo(f"{len(rows)} item(s)")


@quarantine_app.command("retry")
def quarantine_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Item ids (default: all open).")] = None,
) -> None:
    """Read quarantined items again; those that now read are captured."""
    from bot.commands import with_runtime
    from bot.quarantine import retry_quarantine

    settings = cli_settings()
    config = load_config(settings.config_path)
    counts = asyncio.run(with_runtime(settings, config, lambda rt: retry_quarantine(rt, ids or ())))
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing to retry")


def main() -> None:
    """Entry point of the console script."""
    app()
