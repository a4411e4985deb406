"""``nudge digest [--manager SLACK_ID]``: queue digests now, for one person or every manager.

The digests go to the outbox (the daily run is untouched); a running ``nudge serve`` posts them.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.cli_support import cli_settings, fail
from bot.config import ConfigError, load_config
from bot.digest import send_digest_now, slack_client
from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.digest import digest_recipients


async def queue_digests(runtime: Runtime, manager: str | None) -> list[str]:
    """Queue a digest for ``manager`` (a Slack id) or for every manager and admin.

    Returns the Slack ids queued for; raises ``LookupError`` for someone not on the team.
    """
    if manager is None:
        async with unit_of_work(runtime.sessions) as session:
            people = await digest_recipients(session=session, workspace_id=runtime.workspace_id)
        targets = [p.slack_user_id for p in people if p.slack_user_id]
    else:
        targets = [manager]
    client = slack_client(runtime)
    for slack_id in targets:
        if await send_digest_now(runtime, client, slack_id) is None:
            raise LookupError(f"{slack_id} is not on the team in app.yaml (crm.team)")
    return targets


def register(app: typer.Typer) -> None:
    """Add ``nudge digest`` to the CLI."""

    @app.command()
    def digest(
        manager: Annotated[
            str | None, typer.Option(help="Slack user id of one person (default: every manager).")
        ] = None,
    ) -> None:
        """Queue the manager digest now; the running server posts it."""
        from bot.commands import with_runtime

        settings = cli_settings()
        try:
            config = load_config(settings.config_path)
            queued = asyncio.run(
                with_runtime(settings, config, lambda rt: queue_digests(rt, manager))
            )
        except (ConfigError, LookupError) as exc:
            raise fail(str(exc)) from exc
        typer.echo(f"queued {len(queued)} digest(s): {', '.join(queued) or 'no managers'}")
