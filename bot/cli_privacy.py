"""``nudge purge --email X`` and ``nudge export --email X``: erasure and access requests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli_support import cli_settings, fail
from bot.config import ConfigError, load_config
from bot.runtime import Runtime
from bot.settings import Settings, SettingsError

CLI_ACTOR = "cli"


def _valid_email(email: str) -> str:
    cleaned = email.strip()
    local, at, domain = cleaned.rpartition("@")
    if not at or not local or "." not in domain:
        raise fail(f"{email!r} is not an email address")
    return cleaned


async def _purge(runtime: Runtime, settings: Settings, email: str) -> tuple[Any, int]:
    from bot.app import create_web_client
    from bot.governance import erase, retract_messages

    erasure = await erase(runtime, email, actor=CLI_ACTOR)
    retracted = 0
    if settings.slack_bot_token is not None and erasure.retractions:
        client = create_web_client(
            settings.slack_bot_token.get_secret_value(), settings.api_base_url
        )
        retracted = await retract_messages(runtime, client)
    return erasure, retracted


async def _retry_slack(runtime: Runtime, settings: Settings) -> int:
    from bot.app import create_web_client
    from bot.governance import retract_messages

    token = settings.reveal("SLACK_BOT_TOKEN")
    return await retract_messages(runtime, create_web_client(token, settings.api_base_url))


def purge(
    email: Annotated[
        str | None, typer.Option("--email", help="The person's email address.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
    retry_slack: Annotated[
        bool, typer.Option("--retry-slack", help="Only retry removing Slack messages left over.")
    ] = False,
) -> None:
    """Forget a person everywhere (GDPR Art. 17): data, Slack messages, model influence."""
    from bot.commands import with_runtime

    settings = cli_settings()
    try:
        config = load_config(settings.config_path)
        if retry_slack:
            done = asyncio.run(
                with_runtime(settings, config, lambda rt: _retry_slack(rt, settings))
            )
            typer.echo(f"Slack messages removed: {done}")
            return
    except (ConfigError, SettingsError) as exc:
        raise fail(str(exc)) from exc
    if email is None:
        raise fail("give --email ADDRESS (or --retry-slack)")
    address = _valid_email(email)
    if not yes:
        typer.confirm("Erase everything held about this person? This cannot be undone", abort=True)
    erasure, retracted = asyncio.run(
        with_runtime(settings, config, lambda rt: _purge(rt, settings, address))
    )
    removed = ", ".join(f"{k}: {v}" for k, v in sorted(erasure.counts.items())) or "nothing held"
    typer.echo(f"erased {erasure.contacts} contact(s); {removed}")
    typer.echo(
        f"Slack messages: {retracted} of {erasure.retractions} removed"
        + ("" if retracted == erasure.retractions else " (the rest retry at the next purge)")
    )
    typer.echo("a tombstone stops later mail from them; the receipt is in the audit trail")


def export(
    email: Annotated[str, typer.Option("--email", help="The person's email address.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Everything held about a person as JSON (GDPR Art. 15); the export is audited."""
    from bot.commands import with_runtime
    from bot.governance import export as run_export

    address = _valid_email(email)
    settings = cli_settings()
    try:
        config = load_config(settings.config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    document = asyncio.run(
        with_runtime(settings, config, lambda rt: run_export(rt, address, actor=CLI_ACTOR))
    )
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add ``nudge purge`` and ``nudge export``."""
    app.command("purge")(purge)
    app.command("export")(export)
