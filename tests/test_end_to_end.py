"""The whole path: email → contact → score with reasons → Slack nudge → 👍 → the model learns."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from bot.config import AppConfig
from bot.imports import import_mail
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.serve import connect_slack
from bot.web import create_web_app
from handlers.mail_files import find_mail
from models.db import unit_of_work
from models.learning import LearningLogEntry, ModelSnapshot
from tests.conftest import NOW, REP, SIGNING_SECRET, make_settings
from tests.fakes.slack_api import FakeSlackApi, SlackCall, dm_channel_id
from tests.mail_factory import LEAD, eager_thread
from tests.slack_signing import JSON_CONTENT_TYPE, event_body, retry_headers, signed_headers

PERSONAL = ("ana", "silva", "globex", "415", "0134", "acme insights", "seats", "vp of sales")


def _texts(call: SlackCall) -> str:
    return json.dumps(call.params.get("blocks", [])) + str(call.params.get("text", ""))


def _write_thread(folder: Path) -> None:
    folder.mkdir()
    for n, raw in enumerate(eager_thread((REP.name, REP.email), start=NOW - timedelta(days=2))):
        (folder / f"{n:02d}.eml").write_bytes(raw)


async def _post_event(
    client: TestClient[web.Request, web.Application], body: str, extra: dict[str, str] | None = None
) -> int:
    headers = signed_headers(body, SIGNING_SECRET, content_type=JSON_CONTENT_TYPE)
    response = await client.post("/slack/events", data=body, headers=headers | (extra or {}))
    return response.status


async def _learning_rows(runtime: Runtime) -> list[LearningLogEntry]:
    async with unit_of_work(runtime.sessions) as session:
        return list((await session.exec(select(LearningLogEntry))).all())


async def _wait_for_rows(runtime: Runtime, count: int) -> list[LearningLogEntry]:
    for _ in range(100):
        rows = await _learning_rows(runtime)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} learning-log rows, found {len(rows)}")


async def test_email_to_nudge_to_reaction_teaches_the_model(
    database_url: str, app_config: AppConfig, tmp_path: Path
) -> None:
    async with FakeSlackApi() as fake:
        settings = make_settings(database_url, slack_api_url=fake.base_url)
        runtime = await open_runtime(settings, app_config, clock=lambda: NOW)
        try:
            _write_thread(tmp_path / "mail")
            counts = await import_mail(runtime, find_mail([tmp_path / "mail"]))
            assert counts["stored"] == 8
            bolt, poster = await connect_slack(runtime)
            async with TestClient(TestServer(create_web_app(runtime, bolt, poster))) as client:
                nudge = (await fake.wait_for("chat.postMessage"))[0]
                assert nudge.params["channel"] == REP.slack_id
                shown = _texts(nudge)
                assert "Ana Silva" in shown
                assert "VP of Sales" in shown
                assert "replies within 1 hour" in shown
                assert "replied to 100% of our emails in 90 days" in shown
                assert "Automated by Nudge" in json.dumps(nudge.params["blocks"][-1])
                version_before = runtime.scorer.version

                event = {
                    "type": "reaction_added",
                    "user": REP.slack_id,
                    "reaction": "+1",
                    "item_user": "U0BOT",
                    "item": {"type": "message", "channel": dm_channel_id(REP.slack_id),
                             "ts": _ts(nudge)},
                    "event_ts": "1732530100.000200",
                }  # fmt: skip
                body = event_body(event, event_id="Ev0001")
                assert await _post_event(client, body) == 200

                rows = await _wait_for_rows(runtime, 1)
                reply = (await fake.wait_for("chat.postMessage", count=2))[1]
                assert reply.params["thread_ts"] == event["item"]["ts"]  # type: ignore[index]
                assert "→" in reply.params["text"]
                assert ":+1:" in reply.params["text"]
                assert "Automated by Nudge" in _texts(reply)

                (row,) = rows
                assert (row.source, row.label, row.weight) == ("reaction", True, 0.5)
                dumped = json.dumps(row.model_dump(mode="json")).lower()
                assert not [word for word in PERSONAL if word in dumped]
                assert LEAD[1] not in dumped
                assert runtime.scorer.version == version_before + 1 == row.model_version
                async with unit_of_work(runtime.sessions) as session:
                    snapshot = (
                        await session.exec(
                            select(ModelSnapshot).where(ModelSnapshot.version == row.model_version)
                        )
                    ).one()
                assert snapshot.last_log_id == row.id

                for attempt in (1, 2, 3):
                    assert await _post_event(client, body, retry_headers(attempt)) == 200
                await asyncio.sleep(0.5)
                assert len(await _learning_rows(runtime)) == 1
                assert len([c for c in fake.calls_to("chat.postMessage") if not c.failed]) == 2
        finally:
            await close_runtime(runtime)


def _ts(call: SlackCall) -> str:
    assert call.answer is not None
    return str(call.answer["ts"])
