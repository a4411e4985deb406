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
from models.workspace import User

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
    acting_as: Annotated[
        str,
        typer.Option(
            "--as",
            help="The team member (Slack user id or email) the token acts as: it sees and "
            "changes what their current role allows.",
        ),
    ],
) -> None:
    """Make a token acting as a team member; it is printed once and only its hash is kept."""

    async def work(runtime: Runtime) -> tuple[ApiToken, str]:
        async with unit_of_work(runtime.sessions) as session:
            return await create_token(
                session=session, workspace_id=runtime.workspace_id, name=name,
                scopes=scopes.replace(",", " ").split(), acting_as=acting_as, actor=CLI_ACTOR,
            )  # fmt: skip

    try:
        token, secret = _in_runtime(work)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"token {token.id} ({token.name}) as {acting_as}: {' '.join(token.scopes)}")
    typer.echo(secret)
    typer.echo("Keep it now: it cannot be shown again.", err=True)


def _holder(user: User | None) -> str:
    """Who a token acts as, for the list."""
    if user is None:
        return "nobody (refused)"
    return f"{user.slack_user_id or user.email or user.id} ({user.role})"


@token_app.command("list")
def list_command() -> None:
    """Show every token: id, name, who it acts as, state, last used, scopes (never the secret)."""

    async def work(runtime: Runtime) -> list[tuple[ApiToken, User | None]]:
        async with unit_of_work(runtime.sessions) as session:
            return await list_tokens(session=session, workspace_id=runtime.workspace_id)

    tokens = _in_runtime(work)
    for token, user in tokens:
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        typer.echo(
            f"{token.id:>4}  {token.prefix}…  {token.name:<20} as {_holder(user):<28} "
            f"{state:<18} used {used:<16} {' '.join(token.scopes)}"
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
