"""A running Nudge for API tests: the real aiohttp app on a test server, and tokens for it.

Every token acts as a team member; the default one as :data:`ADMIN`, an admin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.config import AppConfig
from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.roles import grant_role
from models.services.tokens import SCOPES, create_token
from tests.marketing_server import serve

API = "/api/v1"
ADMIN = "U0ADMIN1"


@dataclass
class Api:
    """The served app, and a token of :data:`ADMIN` holding every scope."""

    runtime: Runtime
    client: TestClient[web.Request, web.Application]
    token: str

    async def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """One request with a bearer token (the all-scopes one unless given); status and JSON."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        response = await self.client.request(method, API + path, headers=headers, **kwargs)
        return response.status, await response.json()

    async def all_pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list, following ``next`` links."""
        status, page = await self.call("GET", path, params=params)
        assert status == 200, page
        items = list(page["data"])
        while page["next"]:
            response = await self.client.get(
                page["next"], headers={"Authorization": f"Bearer {self.token}"}
            )
            assert response.status == 200
            page = await response.json()
            items += page["data"]
        return items


async def make_token(
    runtime: Runtime, *scopes: str, name: str = "test", acting_as: str = ADMIN
) -> str:
    """A new token acting as ``acting_as`` with these scopes (all of them when none are named)."""
    async with unit_of_work(runtime.sessions) as session:
        _token, secret = await create_token(
            session=session, workspace_id=runtime.workspace_id, name=name,
            scopes=list(scopes or SCOPES), acting_as=acting_as, actor="test",
        )  # fmt: skip
    return secret


async def set_role(runtime: Runtime, slack_user_id: str, role: str) -> None:
    """Give a Slack user a role, as ``/crm role`` does (making them a team member)."""
    async with unit_of_work(runtime.sessions) as session:
        await grant_role(
            session=session, workspace_id=runtime.workspace_id, actor="test",
            slack_user_id=slack_user_id, role=role, config=runtime.config.crm,
        )  # fmt: skip


@asynccontextmanager
async def serve_api(database_url: str, config: AppConfig, **settings: Any) -> AsyncIterator[Api]:
    """Nudge's web app, served (with these settings), with an admin's all-scopes token."""
    async with serve(database_url, config, **settings) as served:
        await set_role(served.runtime, ADMIN, "admin")
        yield Api(served.runtime, served.client, await make_token(served.runtime))
