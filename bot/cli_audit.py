"""``nudge audit verify | list | prune``: the hash-chained audit trail from the command line."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from bot.cli_support import cli_settings, fail
from bot.config import ConfigError, load_config
from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.audit import (
    AuditFilter,
    ChainReport,
    list_audit,
    verify_chain,
)

audit_app = typer.Typer(help="The audit trail: check it, read it, prune it.")


def parse_since(text: str | None) -> datetime | None:
    """A date or ISO time as an aware UTC datetime.

    >>> parse_since("2026-11-01")
    datetime.datetime(2026, 11, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--since wants a date like 2026-11-01, not {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _verify(runtime: Runtime) -> ChainReport:
    async with unit_of_work(runtime.sessions) as session:
        return await verify_chain(session=session)


@audit_app.command("verify")
def verify() -> None:
    """Check the hash chain; names the first bad row and exits 1 if any was tampered with."""
    from bot.commands import with_runtime

    settings = cli_settings()
    try:
        report = asyncio.run(with_runtime(settings, load_config(settings.config_path), _verify))
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    if report.ok:
        typer.echo(f"audit trail intact: {report.checked} rows verified")
        return
    typer.secho(
        f"audit trail broken at row {report.bad_id}: {report.reason} "
        f"({report.checked} rows before it are intact)",
        fg=typer.colors.RED,
        err=True,
    )
    raise typer.Exit(code=1)


@audit_app.command("list")
def list_rows(
    actor: Annotated[str | None, typer.Option(help="e.g. slack:U123, api:crm-sync, cli")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. role.set, or role for all")] = None,
    target: Annotated[str | None, typer.Option(help="type or type:id, e.g. deal:12")] = None,
    since: Annotated[str | None, typer.Option(help="a date or ISO time (UTC)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """The newest audit rows first, filtered."""
    from bot.commands import with_runtime

    settings = cli_settings()
    try:
        query = AuditFilter(actor=actor, action=action, target=target,
                            since=parse_since(since), limit=limit)  # fmt: skip
        config = load_config(settings.config_path)
    except (ValueError, ConfigError) as exc:
        raise fail(str(exc)) from exc

    async def work(runtime: Runtime) -> list[dict[str, object]]:
        async with unit_of_work(runtime.sessions) as session:
            rows = await list_audit(session=session, query=query)
        return [row.model_dump(mode="json", exclude={"prev_hash", "redacted"}) for row in rows]

    for row in asyncio.run(with_runtime(settings, config, work)):
        if as_json:
            typer.echo(json.dumps(row, sort_keys=True))
            continue
        target_text = f"{row['target_type']}:{row['target_id'] or ''}"
        typer.echo(
            f"{row['id']:>7}  {row['at']}  {row['actor']:<20} {row['action']:<26} {target_text}"
            f"  {json.dumps(row['before'])} → {json.dumps(row['after'])}"
        )


@audit_app.command("prune")
def prune() -> None:
    """Delete rows older than crm.retention_days.audit; the rest stays verifiable."""
    from bot.commands import with_runtime
    from bot.governance import prune_past_retention

    settings = cli_settings()
    try:
        config = load_config(settings.config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from exc

    async def work(runtime: Runtime) -> int:
        async with unit_of_work(runtime.sessions) as session:
            return await prune_past_retention(session, runtime, "cli")

    typer.echo(f"pruned {asyncio.run(with_runtime(settings, config, work))} audit row(s)")


def register(app: typer.Typer) -> None:
    """Add ``nudge audit`` to the CLI."""
    app.add_typer(audit_app, name="audit")
