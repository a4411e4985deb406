"""The listeners inside ``nudge serve`` (one per mailbox folder) and ``nudge listen`` alone."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from bot.config import AppConfig
from bot.runtime import close_runtime, open_runtime
from bot.serve import connect_slack
from bot.web import create_web_app
from tests.conftest import NOW, ROOT, make_settings
from tests.fakes.slack_api import FakeSlackApi
from tests.imap.conftest import SECRET_ENV, Dovecot, append
from tests.imap.dovecot_config import PASSWORD
from tests.imap.support import REP_ADDRESS, checkpoints, email_ids, wait_for_emails
from tests.mail_factory import distinct_messages

pytestmark = pytest.mark.imap
LISTEN = (
    "import typer; from bot.cli_mailbox import register; app = typer.Typer(); register(app); app()"
)


async def test_serve_listens_to_every_folder_of_every_mailbox(
    dovecot: Dovecot,
    database_url: str,
    app_config: AppConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, PASSWORD)
    mailbox = dovecot.mailbox(folders=("INBOX", "Deals"))
    config = AppConfig(
        app_config.slack, app_config.crm.model_copy(update={"mailboxes": (mailbox,)})
    )
    inbox, deals = (distinct_messages(2, REP_ADDRESS, start=NOW, tag=t) for t in ("in", "deal"))
    async with FakeSlackApi() as fake:
        runtime = await open_runtime(make_settings(database_url, slack_api_url=fake.base_url),
                                     config, clock=lambda: NOW)  # fmt: skip
        try:
            bolt, poster = await connect_slack(runtime)
            async with dovecot.client() as imap:
                assert (await imap.create("Deals")).result == "OK"
                async with TestClient(TestServer(create_web_app(runtime, bolt, poster))):
                    await append(imap, [raw for _, raw in inbox])
                    await append(imap, [raw for _, raw in deals], folder="Deals")
                    await wait_for_emails(runtime, 4)
                    assert len(await dovecot.wait_for_idle(sessions=2)) == 2
            assert not dovecot.idle_sessions(), "the listeners stop with the server"
            assert sorted(await email_ids(runtime)) == sorted(i for i, _ in inbox + deals)
            assert {(c.folder, c.last_uid) for c in await checkpoints(runtime)} == {
                ("INBOX", 2), ("Deals", 2),
            }  # fmt: skip
        finally:
            await close_runtime(runtime)


async def _nudge_listen(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", LISTEN, "listen", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.fault
async def test_nudge_listen_survives_a_kill_and_stops_on_sigterm(
    dovecot: Dovecot, database_url: str, app_config: AppConfig, tmp_path: Path
) -> None:
    document = yaml.safe_load((ROOT / "app.yaml").read_text())
    document["crm"]["mailboxes"] = [dovecot.mailbox().model_dump(mode="json")]
    config_path = tmp_path / "app.yaml"
    config_path.write_text(yaml.safe_dump(document))
    mails = distinct_messages(60, REP_ADDRESS, start=NOW - timedelta(days=1))
    # Migrated here first, so the test can read the database while the processes write it.
    runtime = await open_runtime(make_settings(database_url), app_config)
    env = os.environ | {"NUDGE_CONFIG": str(config_path), "NUDGE_DATABASE_URL": database_url,
                        SECRET_ENV: PASSWORD}  # fmt: skip
    try:
        killed = await _nudge_listen(env)
        async with dovecot.client() as imap:
            await append(imap, [raw for _, raw in mails])
        await wait_for_emails(runtime, 1, within=30)
        killed.kill()  # SIGKILL in the middle of the backfill: no clean-up runs
        await killed.communicate()
        process = await _nudge_listen(env)
        try:
            await wait_for_emails(runtime, 60, within=30)
            await dovecot.wait_for_idle()
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
        captured = await email_ids(runtime)
    finally:
        await close_runtime(runtime)
    assert process.returncode == 0, output.decode()[-2000:]
    assert Counter(captured) == Counter(message_id for message_id, _ in mails)
    assert PASSWORD.encode() not in output
    assert b"prospect" not in output, "no addresses in the log"
