"""``nudge serve``: the long-running process, over HTTP or Socket Mode."""

from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.app import create_bolt_app, create_web_client
from bot.config import AppConfig
from bot.heap import freeze_startup_objects
from bot.logs import AccessLogger
from bot.outbox import OutboxPoster, SlackTransport
from bot.reload import ConfigReloader
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.settings import Settings
from bot.slack_people import SlackPeople
from bot.web import create_web_app
from models.db import unit_of_work
from models.services.delivery import DeliveryRules
from models.services.workspaces import bind_slack_team
from models.workspace import Workspace

log = structlog.get_logger(__name__)


async def connect_slack(runtime: Runtime) -> tuple[AsyncApp, OutboxPoster]:
    """The Bolt app and poster for this runtime; binds the workspace to the bot's team."""
    settings = runtime.settings
    client = create_web_client(settings.reveal("SLACK_BOT_TOKEN"), settings.api_base_url)
    identity = await client.auth_test()
    async with unit_of_work(runtime.sessions) as session:
        workspace = await session.get(Workspace, runtime.workspace_id)
        assert workspace is not None
        await bind_slack_team(
            session=session, workspace=workspace, team_id=str(identity["team_id"])
        )
    # Socket Mode has no request signatures; Bolt still wants a value to construct.
    secret = settings.slack_signing_secret
    signing_secret = secret.get_secret_value() if secret else "unused-in-socket-mode"
    bolt = create_bolt_app(runtime, client=client, signing_secret=signing_secret)
    poster = OutboxPoster(
        runtime.sessions,
        SlackTransport(client),
        rules=lambda: DeliveryRules.of(runtime.config.crm.nudges),
        wall_clock=lambda: runtime.clock(),
    )
    return bolt, poster


async def start_socket_mode(bolt: AsyncApp, settings: Settings) -> AsyncSocketModeHandler:
    """Connect the same Bolt app over Socket Mode (for a laptop: no public URL needed)."""
    handler = AsyncSocketModeHandler(bolt, settings.reveal("SLACK_APP_TOKEN"))
    await handler.connect_async()  # type: ignore[no-untyped-call]
    return handler


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_serve(
    settings: Settings, config: AppConfig, *, host: str, port: int, socket_mode: bool
) -> None:
    """Serve until SIGINT or SIGTERM, keeping roles and time zones in step with Slack."""
    runtime = await open_runtime(settings, config)
    try:
        bolt, poster = await connect_slack(runtime)
        runner = web.AppRunner(create_web_app(runtime, bolt, poster), access_log_class=AccessLogger)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("serve.started", host=host, port=port, socket_mode=socket_mode)
            freeze_startup_objects()
            socket = await start_socket_mode(bolt, settings) if socket_mode else None
            try:
                reloader = ConfigReloader(runtime, settings.config_path)
                people = SlackPeople(runtime, bolt.client)
                async with reloader.running(), people.running():
                    await _wait_for_signal()
            finally:
                if socket is not None:
                    await socket.close_async()  # type: ignore[no-untyped-call]
        finally:
            await runner.cleanup()
    finally:
        await close_runtime(runtime)
