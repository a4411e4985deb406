"""A benchmark's serving process: Nudge's web app on a port until the parent drops a file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from rich.console import Console
from slack_bolt.async_app import AsyncApp

from bot.heap import freeze_startup_objects
from bot.outbox import OutboxPoster
from bot.runtime import Runtime, close_runtime
from bot.terminal import TerminalTransport
from bot.web import create_web_app


async def serve_until(runtime: Runtime, bolt: AsyncApp, port: int, stop_file: Path) -> None:
    """Serve on 127.0.0.1:``port`` (nudges drawn nowhere) until ``stop_file`` exists; then
    stop and release the database."""
    poster = OutboxPoster(runtime.sessions, TerminalTransport(Console(quiet=True)))
    runner = web.AppRunner(create_web_app(runtime, bolt, poster), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    freeze_startup_objects()  # as ``nudge serve`` does
    while not stop_file.exists():  # noqa: ASYNC110, ASYNC240 - the parent signals by a file
        await asyncio.sleep(0.1)
    await runner.cleanup()
    await close_runtime(runtime)
