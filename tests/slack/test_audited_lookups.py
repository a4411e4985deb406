"""Look-ups of personal data are audited (SPEC C5.2): a list of leads or deals to choose from,
a pipeline page and an opened App Home, each with who looked and which records, by id."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from bot.runtime import Runtime
from models.audit import AuditEntry
from models.db import unit_of_work
from models.services.audit import verify_chain
from tests.conftest import REP
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.world import ask, build_world, open_home


async def _rows(runtime: Runtime, action: str) -> list[AuditEntry]:
    async with unit_of_work(runtime.sessions) as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
        return list((await session.exec(query)).all())


async def test_lists_pipelines_and_the_home_are_audited_by_id(runtime: Runtime) -> None:
    await build_world(runtime)
    async with FakeSlackApi() as fake:
        await ask(runtime, fake, "/lead", "globex")  # several matches: a choice
        await ask(runtime, fake, "/pipeline", "")
        await open_home(runtime, fake, REP.slack_id, "EvHome1")
        async with asyncio.timeout(5):
            while not await _rows(runtime, "home.viewed"):  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    (listed,) = await _rows(runtime, "contacts.listed")
    (pipeline,) = await _rows(runtime, "pipeline.viewed")
    (home,) = await _rows(runtime, "home.viewed")
    actor = f"slack:{REP.slack_id}"
    assert (listed.actor, pipeline.actor, home.actor) == (actor, actor, actor)
    assert len(listed.after["ids"]) > 1
    assert all(isinstance(i, int) for i in listed.after["ids"] + pipeline.after["ids"])
    assert "globex" not in str(listed.after).lower()  # ids only: nothing personal
    async with unit_of_work(runtime.sessions) as session:
        assert (await verify_chain(session=session)).ok
