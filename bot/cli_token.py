"""``nudge token create|list|revoke``: bearer tokens for the integration API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from bot.cli_support import cli_settings, fail
from bot.config import ConfigError, load_config
from models.db import unit_of_work
from models.integration import ApiToken
from models.services.tokens import SCOPES, create_token, list_tokens, revoke_token

if TYPE_CHECKING:
    from bot.runtime import Runtime

token_app = typer.Typer(help="Bearer tokens for the integration API (/api/v1).")
CLI_ACTOR = "cli"
T = TypeVar("T")


def _in_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    from bot.commands import with_runtime

    settings = cli_settings()
    try:
        config = load_config(settings.config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    return asyncio.run(with_runtime(settings, config, work))


@token_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. erp-sync.")],
    scopes: Annotated[
        str, typer.Option(help="Comma- or space-separated: " + ", ".join(SCOPES) + ".")
    ],
) -> None:
    """Make a token; it is printed once and only its hash is kept."""

    async def work(runtime: Runtime) -> tuple[ApiToken, str]:
        async with unit_of_work(runtime.sessions) as session:
            return await create_token(
                session=session, workspace_id=runtime.workspace_id, name=name,
                scopes=scopes.replace(",", " ").split(), actor=CLI_ACTOR,
            )  # fmt: skip

    try:
        token, secret = _in_runtime(work)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"token {token.id} ({token.name}): {' '.join(token.scopes)}")
    typer.echo(secret)
    typer.echo("Keep it now: it cannot be shown again.", err=True)


@token_app.command("list")
def list_command() -> None:
    """Show every token: id, name, scopes, created, last used, revoked (never the secret)."""

    async def work(runtime: Runtime) -> list[ApiToken]:
        async with unit_of_work(runtime.sessions) as session:
            return await list_tokens(session=session, workspace_id=runtime.workspace_id)

    tokens = _in_runtime(work)
    for token in tokens:
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        typer.echo(
            f"{token.id:>4}  {token.prefix}…  {token.name:<20} {state:<18} used {used:<16} "
            f"{' '.join(token.scopes)}"
        )
    typer.echo(f"{len(tokens)} token(s)")


@token_app.command("revoke")
def revoke(token_id: Annotated[int, typer.Argument(help="The token's id (see list).")]) -> None:
    """Revoke a token; requests with it are refused from now on."""

    async def work(runtime: Runtime) -> ApiToken | None:
        async with unit_of_work(runtime.sessions) as session:
            return await revoke_token(
                session=session, workspace_id=runtime.workspace_id, token_id=token_id,
                actor=CLI_ACTOR,
            )  # fmt: skip

    token = _in_runtime(work)
    if token is None:
        raise fail(f"no token {token_id}")
    typer.echo(f"token {token.id} ({token.name}) revoked")


def register(app: typer.Typer) -> None:
    """Add ``token`` to the ``nudge`` command."""
    app.add_typer(token_app, name="token")
