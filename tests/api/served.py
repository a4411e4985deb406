"""A running Nudge for API tests: the real aiohttp app on a test server, and tokens for it."""

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
from models.services.tokens import SCOPES, create_token
from tests.marketing_server import serve

API = "/api/v1"


@dataclass
class Api:
    """The served app, and a token holding every scope."""

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


async def make_token(runtime: Runtime, *scopes: str, name: str = "test") -> str:
    """A new token with these scopes (all of them when none are named)."""
    async with unit_of_work(runtime.sessions) as session:
        _token, secret = await create_token(
            session=session, workspace_id=runtime.workspace_id, name=name,
            scopes=list(scopes or SCOPES), actor="test",
        )  # fmt: skip
    return secret


@asynccontextmanager
async def serve_api(database_url: str, config: AppConfig, **settings: Any) -> AsyncIterator[Api]:
    """Nudge's web app, served (with these settings), with an all-scopes token."""
    async with serve(database_url, config, **settings) as served:
        yield Api(served.runtime, served.client, await make_token(served.runtime))
