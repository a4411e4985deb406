"""What a running Nudge holds: settings, app.yaml, the database, the workspace and its scorer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import AppConfig
from bot.settings import Settings
from learning.scorer import Scorer
from learning.store import load_live
from migrations.runner import upgrade
from models.db import SessionFactory, create_engine, session_factory, unit_of_work
from models.services.roles import apply_roles
from models.services.workspaces import ensure_workspace, sync_team
from models.types import utcnow


@dataclass
class Runtime:
    """The composed service; created once per process and passed down, never global."""

    settings: Settings
    config: AppConfig
    engine: AsyncEngine
    sessions: SessionFactory
    workspace_id: int
    scorer: Scorer
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def salt(self) -> str:
        """The secret salt of pseudonymous ids."""
        return self.settings.pseudonym_salt.get_secret_value()


async def open_runtime(
    settings: Settings, config: AppConfig, *, clock: Callable[[], datetime] = utcnow
) -> Runtime:
    """Migrate, make sure the workspace and team exist, and load the live model."""
    engine = create_engine(settings.async_database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        workspace = await ensure_workspace(session=session, key=config.crm.workspace)
        assert workspace.id is not None
        await sync_team(session=session, workspace_id=workspace.id, team=config.crm.team)
        await apply_roles(session=session, workspace_id=workspace.id, config=config.crm)
        loaded = await load_live(session=session, workspace_id=workspace.id)
    scorer = Scorer(
        loaded.model,
        version=loaded.version,
        outcomes_seen=loaded.outcomes_seen,
        config=config.crm.scoring,
    )
    return Runtime(settings, config, engine, sessions, workspace.id, scorer, clock)


async def close_runtime(runtime: Runtime) -> None:
    """Release the database."""
    await runtime.engine.dispose()
