"""Every token acts as a team member and reaches what their current role allows (SPEC C5.1).

A rep reaches their own and shared records, a manager their team's too, an admin all of them
and the admin-only routes; anything else is a 403 with a reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.config import AppConfig
from bot.flows import capture
from handlers.mail_capture import email_input
from models.db import unit_of_work
from models.integration import ApiToken
from models.services.tokens import token_hash
from models.workspace import User
from tests.api.served import Api, make_token, serve_api, set_role
from tests.conftest import INTERNAL_DOMAIN, NOW, REP
from tests.mail_factory import eager_thread

MANAGER = REP.model_copy(
    update={"slack_id": "U0MGR01", "email": f"mia.moreno@{INTERNAL_DOMAIN}", "name": "Mia Moreno",
            "role": "manager"}
)  # fmt: skip
TEAM_REP = REP.model_copy(update={"manager": MANAGER.slack_id})
COLLEAGUE = REP.model_copy(
    update={"slack_id": "U0REP02", "email": f"li.chen@{INTERNAL_DOMAIN}", "name": "Li Chen"}
)
PEOPLE = {
    "rep": ("ana@globex.example", "Ana Silva"),
    "colleague": ("bo@initech.example", "Bo Lindqvist"),
    "manager": ("cy@umbrella.example", "Cy Park"),
    "shared": ("di@hooli.example", "Di Wong"),
}
OWNERS = {"rep": TEAM_REP.slack_id, "colleague": COLLEAGUE.slack_id, "manager": MANAGER.slack_id}


@pytest.fixture
async def api(database_url: str, app_config: AppConfig) -> AsyncIterator[Api]:
    """Nudge serving the API; a manager, their rep and another rep on the team."""
    crm = app_config.crm.model_copy(update={"team": (MANAGER, TEAM_REP, COLLEAGUE)})
    async with serve_api(database_url, AppConfig(slack=app_config.slack, crm=crm)) as running:
        yield running


async def _user_ids(api: Api) -> dict[str, int]:
    async with unit_of_work(api.runtime.sessions) as session:
        users = (await session.exec(select(User))).all()
    return {u.slack_user_id or "": u.id or 0 for u in users}


async def _contacts(api: Api) -> dict[str, int]:
    """One contact owned by each of the team and a shared one, made by the admin's token."""
    users = await _user_ids(api)
    ids = {}
    for key, (email, name) in PEOPLE.items():
        body: dict[str, object] = {"email": email, "name": name}
        if key in OWNERS:
            body["owner_id"] = users[OWNERS[key]]
        status, contact = await api.call("POST", "/contacts", json=body)
        assert status == 201, contact
        ids[key] = contact["id"]
    return ids


async def _listed(api: Api, path: str, token: str) -> set[int]:
    status, page = await api.call("GET", path, token=token)
    assert status == 200, page
    return {item["id"] for item in page["data"]}


def _refused(answer: tuple[int, dict[str, str]], error: str, message: str) -> None:
    status, body = answer
    assert (status, body["error"]) == (403, error), body
    assert message in body["message"]


async def test_a_reps_token_reaches_their_own_and_shared_contacts_only(api: Api) -> None:
    ids = await _contacts(api)
    token = await make_token(api.runtime, acting_as=TEAM_REP.slack_id)
    assert await _listed(api, "/contacts", token) == {ids["rep"], ids["shared"]}
    assert (await api.call("GET", f"/contacts/{ids['rep']}/profile", token=token))[0] == 200
    for path in (f"/contacts/{ids['colleague']}", f"/contacts/{ids['colleague']}/profile"):
        answer = await api.call("GET", path, token=token)
        _refused(answer, "forbidden", "may not see this contact")
    _refused(await api.call("GET", "/audit", token=token), "role_required",
             "admins only: this token acts as a rep")  # fmt: skip
    _refused(await api.call("GET", "/webhooks", token=token), "role_required", "admins only")


async def test_a_managers_token_reaches_the_team(api: Api) -> None:
    ids = await _contacts(api)
    token = await make_token(api.runtime, acting_as=MANAGER.email)
    assert await _listed(api, "/contacts", token) == {ids["rep"], ids["manager"], ids["shared"]}
    assert (await api.call("GET", f"/contacts/{ids['rep']}", token=token))[0] == 200
    answer = await api.call("GET", f"/contacts/{ids['colleague']}", token=token)
    _refused(answer, "forbidden", "may not see this contact")
    _refused(await api.call("GET", "/audit", token=token), "role_required", "admins only")


async def test_an_admins_token_reaches_everything_and_reads_the_audit(api: Api) -> None:
    ids = await _contacts(api)
    assert await _listed(api, "/contacts", api.token) == set(ids.values())
    status, trail = await api.call("GET", "/audit", params={"action": "contact.created"})
    assert status == 200, trail
    assert {int(e["target_id"]) for e in trail["data"]} == set(ids.values())


async def test_a_demoted_manager_loses_the_team_at_once(api: Api) -> None:
    ids = await _contacts(api)
    token = await make_token(api.runtime, "contacts:read", acting_as=MANAGER.slack_id)
    assert (await api.call("GET", f"/contacts/{ids['rep']}", token=token))[0] == 200
    await set_role(api.runtime, MANAGER.slack_id, "rep")
    answer = await api.call("GET", f"/contacts/{ids['rep']}", token=token)
    _refused(answer, "forbidden", "may not see this contact")
    assert await _listed(api, "/contacts", token) == {ids["manager"], ids["shared"]}


async def test_a_token_bound_to_no_user_is_refused(api: Api) -> None:
    token = await make_token(api.runtime, "contacts:read")
    async with unit_of_work(api.runtime.sessions) as session:
        query = select(ApiToken).where(ApiToken.token_hash == token_hash(token))
        stored = (await session.exec(query)).one()
        stored.user_id = None
        session.add(stored)
    _refused(await api.call("GET", "/contacts", token=token), "unbound_token",
             "token is not bound to a user: create a new one with --as")  # fmt: skip


async def test_a_rep_creates_records_and_changes_only_their_own(api: Api) -> None:
    ids = await _contacts(api)
    colleague_id = (await _user_ids(api))[COLLEAGUE.slack_id]
    token = await make_token(api.runtime, acting_as=TEAM_REP.slack_id)
    new = {"email": "eve@stark.example", "name": "Eve Stone"}
    assert (await api.call("POST", "/contacts", token=token, json=new))[0] == 201
    change = {"title": "CTO"}
    assert (await api.call("PATCH", f"/contacts/{ids['rep']}", token=token, json=change))[0] == 200
    answer = await api.call("PATCH", f"/contacts/{ids['colleague']}", token=token, json=change)
    _refused(answer, "forbidden", "may not see this contact")
    assert (await api.call("GET", f"/contacts/{ids['colleague']}"))[1]["title"] is None
    given = {"email": "fay@wayne.example", "name": "Fay Lu", "owner_id": colleague_id}
    _refused(await api.call("POST", "/contacts", token=token, json=given), "forbidden",
             f"may not give records to user {colleague_id}")  # fmt: skip
    known = {"email": PEOPLE["colleague"][0]}
    answer = await api.call("POST", "/contacts", token=token, json=known)
    _refused(answer, "forbidden", "may not see this contact")
    assert PEOPLE["colleague"][1] not in str(answer)


async def test_a_reps_token_reaches_their_own_deals_only(api: Api) -> None:
    ids = await _contacts(api)
    users = await _user_ids(api)
    theirs = {"name": "Initech renewal", "owner_id": users[COLLEAGUE.slack_id]}
    status, deal = await api.call("POST", "/deals", json=theirs)
    assert status == 201, deal
    token = await make_token(api.runtime, acting_as=TEAM_REP.slack_id)
    own = {"name": "Globex rollout", "contact_ids": [ids["rep"]]}
    status, mine = await api.call("POST", "/deals", token=token, json=own)
    assert status == 201, mine
    assert await _listed(api, "/deals", token) == {mine["id"]}
    answer = await api.call("PATCH", f"/deals/{deal['id']}", token=token, json={"amount": 1})
    _refused(answer, "forbidden", "may not see this deal")
    linked = {"name": "Initech expansion", "contact_ids": [ids["colleague"]]}
    answer = await api.call("POST", "/deals", token=token, json=linked)
    _refused(answer, "forbidden", "may not see this contact")


async def test_activities_are_reached_through_the_reps_contacts(api: Api) -> None:
    for raw in eager_thread((TEAM_REP.name, TEAM_REP.email), start=NOW - timedelta(days=3)):
        await capture(api.runtime, email_input(raw, internal_domains=frozenset({INTERNAL_DOMAIN})))
    rep = await make_token(api.runtime, acting_as=TEAM_REP.slack_id)
    colleague = await make_token(api.runtime, acting_as=COLLEAGUE.slack_id)
    seen = await _listed(api, "/activities", rep)
    assert seen
    assert await _listed(api, "/activities", colleague) == set()
    answer = await api.call("GET", f"/activities/{min(seen)}", token=colleague)
    _refused(answer, "forbidden", "may not see this activity")
