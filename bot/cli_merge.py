"""``nudge dedupe`` and ``nudge merge list|undo``: duplicate contacts across the workspace."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli_support import cli_settings, fail
from bot.config import ConfigError, load_config
from bot.flows import rescore_merged
from bot.runtime import Runtime
from models.contact import Contact
from models.db import unit_of_work
from models.services.dedupe import dedupe
from models.services.hygiene import paired_contacts, recheck
from models.services.merges import MergeError, recent_merges, undo_merge

CLI_ACTOR = "cli"


@dataclass(frozen=True, slots=True)
class MergeLine:
    """One merge as ``nudge merge list`` prints it."""

    id: int
    at: datetime
    survivor: str
    merged: str
    actor: str
    score: float | None
    undone: bool

    def __str__(self) -> str:
        score = "manual" if self.score is None else f"{self.score:.2f}"
        state = "undone" if self.undone else "merged"
        return (
            f"{self.id:>6}  {self.at:%Y-%m-%d %H:%M}  {state:<6}  {score:>6}  "
            f"{self.merged} → {self.survivor}  ({self.actor})"
        )


async def _recheck(session: AsyncSession, runtime: Runtime, contact_ids: set[int]) -> None:
    """Re-check the contacts a run merged, proposed or put back, in its transaction."""
    await recheck(
        session=session, workspace_id=runtime.workspace_id, config=runtime.config.crm,
        now=runtime.clock(), actor=CLI_ACTOR, contact_ids=contact_ids,
    )  # fmt: skip


async def dedupe_workspace(runtime: Runtime) -> dict[str, int]:
    """Merge strong matches and propose weaker ones over every live contact."""
    async with unit_of_work(runtime.sessions) as session:
        result = await dedupe(
            session=session, workspace_id=runtime.workspace_id, config=runtime.config.crm
        )
        await rescore_merged(session, runtime, {record.survivor_id for record in result.merges})
        await _recheck(session, runtime, paired_contacts(result.proposals, result.merges))
    return {
        "pairs considered": result.candidates,
        "merged": len(result.merges),
        "proposed": len(result.proposals),
        "nudges": len(result.nudges),
    }


async def _label(runtime: Runtime, contact_id: int) -> str:
    async with unit_of_work(runtime.sessions) as session:
        contact = await session.get(Contact, contact_id)
    return f"#{contact_id} {contact.name if contact else '?'}"


async def merge_lines(runtime: Runtime, limit: int) -> list[MergeLine]:
    """The latest merges, newest first."""
    async with unit_of_work(runtime.sessions) as session:
        records = await recent_merges(
            session=session, workspace_id=runtime.workspace_id, limit=limit
        )
    return [
        MergeLine(
            id=record.id or 0,
            at=record.created_at,
            survivor=await _label(runtime, record.survivor_id),
            merged=await _label(runtime, record.merged_id),
            actor=record.actor,
            score=record.undo.get("score"),
            undone=record.undone_at is not None,
        )
        for record in records
    ]


async def undo(runtime: Runtime, merge_id: int) -> str:
    """Undo one merge; the message to print."""
    async with unit_of_work(runtime.sessions) as session:
        record = await undo_merge(
            session=session, workspace_id=runtime.workspace_id, merge_id=merge_id, actor=CLI_ACTOR
        )
        await rescore_merged(session, runtime, [record.survivor_id, record.merged_id])
        await _recheck(session, runtime, paired_contacts([], [record]))
    return (
        f"merge #{merge_id} undone: contacts #{record.survivor_id} and #{record.merged_id} "
        "are separate again and will not be merged or proposed again"
    )


def dedupe_command() -> None:
    """Find duplicate contacts: merge strong matches (undoable), propose the rest to owners."""
    from bot.commands import with_runtime

    settings = cli_settings()
    try:
        config = load_config(settings.config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    counts = asyncio.run(with_runtime(settings, config, dedupe_workspace))
    typer.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


merge_app = typer.Typer(help="Merges of duplicate contacts: list them, undo one.")


@merge_app.command("list")
def list_command(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
) -> None:
    """Show recent merges (automatic, from proposals, undone)."""
    from bot.commands import with_runtime

    settings = cli_settings()
    config = load_config(settings.config_path)
    lines = asyncio.run(with_runtime(settings, config, lambda rt: merge_lines(rt, limit)))
    for line in lines:
        typer.echo(str(line))
    typer.echo(f"{len(lines)} merge(s)")


@merge_app.command("undo")
def undo_command(
    merge_id: Annotated[int, typer.Argument(help="The merge's id, from `nudge merge list`.")],
) -> None:
    """Restore both contacts of a merge exactly as they were, with their own history."""
    from bot.commands import with_runtime

    settings = cli_settings()
    config = load_config(settings.config_path)
    try:
        message = asyncio.run(with_runtime(settings, config, lambda rt: undo(rt, merge_id)))
    except MergeError as exc:
        raise fail(str(exc)) from exc
    typer.echo(message)


def register(app: typer.Typer) -> None:
    """Add ``dedupe`` and ``merge`` to the ``nudge`` command."""
    app.command("dedupe")(dedupe_command)
    app.add_typer(merge_app, name="merge")
