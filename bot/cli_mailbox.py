"""``nudge mailbox add|list|remove`` and ``nudge listen``.

The mailbox commands edit ``crm.mailboxes`` in the app.yaml named by ``NUDGE_CONFIG``,
keeping its comments and layout; the result is validated before it replaces the file.
Secrets never go into the file: a mailbox names the environment variable that holds one.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.util import load_yaml_guess_indent

from bot.cli_support import cli_settings, fail
from bot.config import AppConfig, ConfigError, load_config
from bot.settings import Settings

if TYPE_CHECKING:
    from models.mailbox import MailboxCheckpoint


class Auth(StrEnum):
    """How a mailbox logs in."""

    password = "password"  # noqa: S105 (a method name, not a secret)
    xoauth2 = "xoauth2"


class _Representer(RoundTripRepresenter):
    """Writes None as ``null``, as app.yaml does."""


_Representer.add_representer(
    type(None), lambda r, _d: r.represent_scalar("tag:yaml.org,2002:null", "null")
)


def _yaml(text: str) -> YAML:
    """A round-trip YAML that writes with the file's own indentation."""
    _data, sequence, offset = load_yaml_guess_indent(text)
    nested = [len(m[1]) for m in re.finditer(r"^( +)[^\s#-]", text, re.MULTILINE)]
    mapping = min(nested, default=2)
    yaml = YAML()
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=mapping, sequence=sequence or mapping + 2, offset=offset or mapping)
    return yaml


def edit_mailboxes(path: Path, change: Callable[[CommentedSeq], str]) -> str:
    """Apply ``change`` to ``crm.mailboxes``; validate with ``load_config``; replace the file.

    ``change`` returns the message to show, or raises ``ConfigError`` to refuse.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} not found (set NUDGE_CONFIG to its location)") from exc
    yaml = _yaml(text)
    document = yaml.load(text)
    crm = document.get("crm") if isinstance(document, dict) else None
    if not isinstance(crm, dict):
        raise ConfigError(f"{path} has no 'crm:' section")
    mailboxes = crm.setdefault("mailboxes", CommentedSeq())
    if not isinstance(mailboxes, CommentedSeq):
        raise ConfigError(f"{path}: crm.mailboxes must be a list")
    message = change(mailboxes)
    if mailboxes:
        mailboxes.fa.set_block_style()
    else:
        mailboxes.fa.set_flow_style()
    out = io.StringIO()
    yaml.dump(document, out)
    draft = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        draft.write_text(out.getvalue(), encoding="utf-8")
        shutil.copymode(path, draft)
        try:
            load_config(draft)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(str(draft), str(path))) from exc
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return message


def _entry(name: str, fields: dict[str, Any]) -> CommentedMap:
    folders = CommentedSeq(fields["folders"])
    folders.fa.set_flow_style()
    return CommentedMap({"name": name, **fields, "folders": folders})


def add(
    name: Annotated[str, typer.Argument(help="Short name: lowercase letters, digits, - or _.")],
    host: Annotated[str, typer.Option(help="IMAP server, e.g. imap.gmail.com.")],
    user: Annotated[str, typer.Option(help="Login, usually the email address.")],
    secret_env: Annotated[
        str, typer.Option(help="Environment variable holding the password or OAuth2 token.")
    ],
    port: Annotated[int | None, typer.Option(help="Default: 993, or 143 with --no-ssl.")] = None,
    no_ssl: Annotated[bool, typer.Option("--no-ssl", help="Plain IMAP (trusted hosts).")] = False,
    auth: Annotated[Auth, typer.Option(help="Password (or app password), or XOAUTH2.")] = (
        Auth.password
    ),
    folder: Annotated[
        list[str] | None, typer.Option(help="Folder to listen to; repeat for more. [INBOX]")
    ] = None,
    backfill_days: Annotated[int, typer.Option(help="Days of mail read on first start.")] = 30,
) -> None:
    """Add a mailbox to app.yaml; restart nudge serve or nudge listen to use it."""
    fields: dict[str, Any] = {
        "host": host, "port": port or (143 if no_ssl else 993), "ssl": not no_ssl, "user": user,
        "auth": auth.value, "secret_env": secret_env, "folders": folder or ["INBOX"],
        "backfill_days": backfill_days,
    }  # fmt: skip
    secret = os.environ.get(secret_env)
    if secret and secret in [*map(str, fields.values()), *fields["folders"]]:
        raise fail(f"the value of {secret_env} is among the options: secrets stay out of app.yaml")

    def change(mailboxes: CommentedSeq) -> str:
        if any(entry.get("name") == name for entry in mailboxes):
            raise ConfigError(f"a mailbox named {name!r} already exists (remove it first)")
        mailboxes.append(_entry(name, fields))
        note = "" if secret else f"; set {secret_env} in the environment before listening"
        return f"added mailbox {name!r}{note}"

    _run_edit(change)


def remove(name: Annotated[str, typer.Argument(help="Name of the mailbox.")]) -> None:
    """Remove a mailbox from app.yaml; its checkpoint stays, so adding it back resumes."""

    def change(mailboxes: CommentedSeq) -> str:
        for index, entry in enumerate(mailboxes):
            if entry.get("name") == name:
                del mailboxes[index]
                return f"removed mailbox {name!r}"
        known = ", ".join(str(entry.get("name")) for entry in mailboxes) or "none"
        raise ConfigError(f"no mailbox named {name!r} (configured: {known})")

    _run_edit(change)


def _run_edit(change: Callable[[CommentedSeq], str]) -> None:
    try:
        typer.echo(edit_mailboxes(cli_settings().config_path, change))
    except ConfigError as exc:
        raise fail(str(exc)) from exc


def list_mailboxes() -> None:
    """Show the configured mailboxes and how far each folder has been captured."""
    settings = cli_settings()
    config = _config(settings)
    rows = asyncio.run(_checkpoints(settings, config))
    if not config.crm.mailboxes:
        typer.echo("no mailboxes: add one with `nudge mailbox add`")
    for mailbox in config.crm.mailboxes:
        how = ("ssl" if mailbox.ssl else "plain", mailbox.auth, f"secret in {mailbox.secret_env}")
        state = "" if os.environ.get(mailbox.secret_env) else " (NOT SET here)"
        typer.echo(f"{mailbox.name}: {mailbox.user} at {mailbox.host}:{mailbox.port}, "
                   f"{', '.join(how)}{state}")  # fmt: skip
        for folder in mailbox.folders:
            typer.echo(f"  {folder}: {rows.pop((mailbox.name, folder), 'no checkpoint yet')}")
    for (name, folder), row in sorted(rows.items()):
        typer.echo(f"{name} (not in app.yaml): {folder}: {row}")


async def _checkpoints(settings: Settings, config: AppConfig) -> dict[tuple[str, str], str]:
    from bot.runtime import close_runtime, open_runtime
    from models.db import unit_of_work
    from models.services.mailboxes import list_checkpoints

    runtime = await open_runtime(settings, config)
    try:
        async with unit_of_work(runtime.sessions) as session:
            found = await list_checkpoints(session=session, workspace_id=runtime.workspace_id)
    finally:
        await close_runtime(runtime)
    return {(row.mailbox, row.folder): _describe(row) for row in found}


def _describe(row: MailboxCheckpoint) -> str:
    at = f", at {row.updated_at:%Y-%m-%d %H:%M:%S} UTC" if row.updated_at else ""
    return f"last UID {row.last_uid} (UIDVALIDITY {row.uidvalidity}){at}"


def _config(settings: Settings) -> AppConfig:
    try:
        return load_config(settings.config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from exc


def listen() -> None:
    """Run only the IMAP listeners of app.yaml (no Slack, no web server) until stopped."""
    settings = cli_settings()
    config = _config(settings)
    if not config.crm.mailboxes:
        raise fail("no mailboxes in app.yaml: add one with `nudge mailbox add`")
    missing = sorted(
        {m.secret_env for m in config.crm.mailboxes if not os.environ.get(m.secret_env)}
    )
    if missing:
        raise fail(f"set {', '.join(missing)} in the environment (the mailboxes' secrets)")
    asyncio.run(_listen(settings, config))


async def _listen(settings: Settings, config: AppConfig) -> None:
    from bot.mailboxes import start_listeners
    from bot.runtime import close_runtime, open_runtime

    runtime = await open_runtime(settings, config)
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await asyncio.gather(*start_listeners(runtime, stop))
    finally:
        await close_runtime(runtime)


def register(app: typer.Typer) -> None:
    """Add ``mailbox add|list|remove`` and ``listen`` to the ``nudge`` command."""
    mailbox = typer.Typer(help="The inboxes Nudge listens to (crm.mailboxes in app.yaml).",
                          no_args_is_help=True)  # fmt: skip
    mailbox.command("add")(add)
    mailbox.command("list")(list_mailboxes)
    mailbox.command("remove")(remove)
    app.add_typer(mailbox, name="mailbox")
    app.command("listen")(listen)
