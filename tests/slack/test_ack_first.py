"""Slack wants an ack within 3 s: the roles refresh (Slack user groups, then the database)
runs beside the requests, in ``nudge serve``'s background, never in front of an ack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.app import create_web_client
from bot.config import AppConfig
from bot.runtime import Runtime
from bot.slack_people import SlackPeople
from models.db import unit_of_work
from models.services.access import viewer_for
from tests.conftest import REP
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.slack.world import REP2
from tests.slack_requests import bolt_for, dispatch_signed
from tests.slack_signing import FORM_CONTENT_TYPE, command_body

GROUP = "S0MANAGERS"
ACK_BUDGET_S = 2.0  # under Slack's 3 s
HOLD_S = 10.0


class HeldSlackApi(FakeSlackApi):
    """The fake Slack Web API, holding every call to one method (:attr:`arrived` is set when
    one comes) until :attr:`released`, or for ``HOLD_S`` at most."""

    def __init__(self, held: str) -> None:
        super().__init__()
        self.held = held
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == self.held:
            self.arrived.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), HOLD_S)
        return await super()._handle_api(request)


@pytest.fixture
def app_config(app_config: AppConfig) -> AppConfig:
    """The Slack tests' team, with a user group of managers in ``crm.roles``."""
    crm = app_config.crm.model_copy(update={"roles": {GROUP: "manager"}})
    return AppConfig(slack=app_config.slack, crm=crm)


@pytest.fixture
async def slow_groups() -> AsyncIterator[HeldSlackApi]:
    """Slack, answering ``usergroups.users.list`` only when the test releases it."""
    async with HeldSlackApi("usergroups.users.list") as fake:
        fake.answer("usergroups.users.list", {"users": [REP2.slack_id]})
        yield fake


def people(runtime: Runtime, fake: FakeSlackApi) -> SlackPeople:
    """What ``nudge serve`` runs beside the Bolt app, over the fake Slack Web API."""
    return SlackPeople(runtime, create_web_client(BOT_TOKEN, fake.base_url))


async def role_of(runtime: Runtime, slack_id: str) -> str:
    async with unit_of_work(runtime.sessions) as session:
        viewer = await viewer_for(
            session=session, workspace_id=runtime.workspace_id, slack_user_id=slack_id
        )
    return viewer.role


async def until_role(runtime: Runtime, slack_id: str, role: str) -> None:
    """Wait (bounded) for the background refresh to write ``role``."""
    async with asyncio.timeout(5):
        while await role_of(runtime, slack_id) != role:  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # what changes is a row in the database


async def test_a_command_is_acked_while_the_user_groups_are_still_being_read(
    runtime: Runtime, slow_groups: HeldSlackApi
) -> None:
    body = command_body("/crm", "help", user_id=REP.slack_id,
                        response_url=slow_groups.response_url())  # fmt: skip
    async with people(runtime, slow_groups).running():
        await asyncio.wait_for(slow_groups.arrived.wait(), 5)  # the refresh waits on Slack
        bolt = bolt_for(runtime, slow_groups)
        await asyncio.wait_for(dispatch_signed(bolt, body, FORM_CONTENT_TYPE), ACK_BUDGET_S)
        assert await role_of(runtime, REP2.slack_id) == "rep"

        slow_groups.released.set()
        await until_role(runtime, REP2.slack_id, "manager")
        await slow_groups.wait_for("response_url")


async def test_roles_follow_the_user_groups_while_serving(
    runtime: Runtime, fake: FakeSlackApi
) -> None:
    fake.answer("usergroups.users.list", {"users": [REP2.slack_id]})
    async with people(runtime, fake).running(every_s=0.01):
        await until_role(runtime, REP2.slack_id, "manager")
        fake.answer("usergroups.users.list", {"users": []})
        await until_role(runtime, REP2.slack_id, "rep")
