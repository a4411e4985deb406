"""A sales team (two reps, their manager, an admin) for the Slack surface tests."""

from __future__ import annotations

import pytest

from bot.config import AppConfig
from tests.conftest import INTERNAL_DOMAIN, REP
from tests.slack.world import ADMIN, MANAGER, REP2


@pytest.fixture
def app_config(app_config: AppConfig) -> AppConfig:
    """app.yaml with the whole team: Dana reports to Morgan; Sam reports to nobody."""
    dana = REP.model_copy(update={"manager": MANAGER.slack_id})
    crm = app_config.crm.model_copy(
        update={
            "team": (dana, REP2, MANAGER, ADMIN),
            "internal_domains": frozenset({INTERNAL_DOMAIN}),
        }
    )
    return AppConfig(slack=app_config.slack, crm=crm)
