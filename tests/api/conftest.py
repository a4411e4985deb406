"""The served API for every test of this package."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import AppConfig
from tests.api.served import Api, serve_api


@pytest.fixture
async def api(database_url: str, app_config: AppConfig) -> AsyncIterator[Api]:
    """Nudge serving the API, with a token holding every scope."""
    async with serve_api(database_url, app_config) as running:
        yield running
