"""The generic calls webhook over real HTTP: signed JSON in, call activities out.

The shape and its signature are documented in docs/webhooks.md; requests are signed by
an HMAC written in tests/call_server.py, independently of the product.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import AppConfig
from models.activity import Activity, Quarantine, RawItem
from models.db import unit_of_work
from models.services.workspaces import user_by_email
from tests.call_server import (
    ANA_PHONE,
    GENERIC_PATH,
    SECRET,
    TOKEN,
    TRANSCRIPT,
    Served,
    answer,
    contact_with_phone,
    generic_call,
    generic_headers,
    linked,
    rows,
    serving,
    settled,
)
from tests.conftest import NOW, REP


@pytest.fixture
async def served(database_url: str, app_config: AppConfig, tmp_path: Path) -> AsyncIterator[Served]:
    secrets = {"twilio_auth_token": SecretStr(TOKEN), "webhook_secret": SecretStr(SECRET)}
    async with serving(database_url, app_config, tmp_path / "mail", **secrets) as served:
        yield served


async def test_generic_call_is_captured_for_the_contact_and_the_rep(served: Served) -> None:
    assert await answer(await served.generic(generic_call()), 200) == {
        "ok": True,
        "duplicate": False,
    }
    await settled(served.runtime)
    ana = await contact_with_phone(served.runtime, ANA_PHONE)
    (call,) = await rows(served.runtime, Activity, Activity.source == "calls")
    async with unit_of_work(served.runtime.sessions) as session:
        rep = await user_by_email(
            session=session, workspace_id=served.runtime.workspace_id, email=REP.email
        )
    assert rep is not None
    assert (call.contact_id, call.user_id, call.direction) == (ana.id, rep.id, "outbound")
    assert await linked(served.runtime, call) == [ana.id]
    assert call.occurred_at == NOW - timedelta(hours=2)
    assert call.facts["duration_s"] == 540
    assert call.facts["transcript_signals"]["pricing"] == {
        "count": 2,
        "keywords": ["discount", "price"],
    }
    assert call.body == TRANSCRIPT


async def test_generic_update_of_a_call_merges_into_it(served: Served) -> None:
    first = generic_call(ended_at=None, transcript=None)
    await answer(await served.generic(first), 200)
    await settled(served.runtime)
    await answer(await served.generic(generic_call(notes="Wants a call back.")), 200)
    await settled(served.runtime)
    (call,) = await rows(served.runtime, Activity, Activity.source == "calls")
    assert call.facts["duration_s"] == 540
    assert call.body == "Wants a call back.\n\n" + TRANSCRIPT


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("tampered", "signature does not match the body"),
        ("wrong secret", "signature does not match the body"),
        ("stale", "stale timestamp: more than 5 minutes from now"),
        ("from the future", "stale timestamp: more than 5 minutes from now"),
        ("no timestamp", "missing timestamp"),
        ("no signature", "missing signature"),
    ],
)
async def test_generic_refuses_bad_signatures(served: Served, how: str, error: str) -> None:
    body = generic_call()
    now = int(time.time())
    headers = {
        "tampered": generic_headers(generic_call(duration_s=1), SECRET),
        "wrong secret": generic_headers(body, "not-the-secret"),
        "stale": generic_headers(body, SECRET, now - 301),
        "from the future": generic_headers(body, SECRET, now + 301),
        "no timestamp": generic_headers(body, SECRET) | {"X-Nudge-Timestamp": ""},
        "no signature": generic_headers(body, SECRET) | {"X-Nudge-Signature": ""},
    }[how]
    response = await served.client.post(GENERIC_PATH, data=body, headers=headers)
    assert await answer(response, 401) == {"ok": False, "error": error}
    assert await rows(served.runtime, RawItem, RawItem.source == "calls") == []


async def test_generic_replay_is_refused_and_a_fresh_resend_is_a_duplicate(
    served: Served,
) -> None:
    body = generic_call()
    signed_at = int(time.time())
    headers = generic_headers(body, SECRET, timestamp=signed_at - 10)
    first = await served.client.post(GENERIC_PATH, data=body, headers=headers)
    assert await answer(first, 200) == {"ok": True, "duplicate": False}
    replay = await served.client.post(GENERIC_PATH, data=body, headers=headers)
    assert await answer(replay, 401) == {"ok": False, "error": "replayed request"}
    resent = await served.generic(body, timestamp=signed_at - 20)
    assert await answer(resent, 200) == {"ok": True, "duplicate": True}
    await settled(served.runtime)
    assert len(await rows(served.runtime, Activity, Activity.source == "calls")) == 1


async def test_nul_characters_neither_crash_the_door_nor_block_the_inbox(served: Served) -> None:
    """PostgreSQL refuses NUL in text: the handler strips it from text and refuses it in ids."""
    await answer(await served.generic(generic_call(id="pbx-1", transcript="a\u0000b")), 200)
    await answer(await served.generic(generic_call(id="pbx-\u0000")), 200)
    await answer(await served.generic(generic_call(id="pbx-2")), 200)
    await settled(served.runtime)
    calls = await rows(served.runtime, Activity, Activity.source == "calls")
    assert sorted((c.external_id, c.body) for c in calls) == [
        ("pbx-1", "ab"),
        ("pbx-2", TRANSCRIPT),
    ]
    (quarantined,) = await rows(served.runtime, Quarantine, Quarantine.source == "calls")
    assert "id: String should match pattern" in quarantined.reason


async def test_a_nan_timestamp_is_refused_not_a_crash(served: Served) -> None:
    headers = generic_headers(generic_call(), SECRET) | {"X-Nudge-Timestamp": "nan"}
    response = await served.client.post(GENERIC_PATH, data=generic_call(), headers=headers)
    assert response.status == 401


async def test_an_empty_secret_accepts_nothing(database_url: str, app_config: AppConfig) -> None:
    async with serving(database_url, app_config, None, webhook_secret=SecretStr("")) as served:
        response = await served.generic(generic_call(), secret="")
        assert response.status in (401, 503)
