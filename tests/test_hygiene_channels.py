"""Each hygiene rule, channel by channel: an issue opens exactly when its condition holds,
whether the write came from the REST API, from Slack (the Fix data modal) or from capture,
and the Fix data modal clears it.

One running Nudge serves the API and Slack over HTTP (Slack requests signed as Slack signs
them, its Web API faked); capture goes through ``bot.flows.capture``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.config import AppConfig
from bot.flows import capture
from handlers.blocks_hygiene import FIX_ACTION
from models.contact import ContactIdentity
from models.db import unit_of_work
from models.hygiene import HygieneIssue
from models.services.inputs import ActivityIn, PersonIn
from tests.api.served import ADMIN, Api, make_token, set_role
from tests.conftest import NOW, REP, SIGNING_SECRET
from tests.fakes.slack_api import APP_ID, TEAM_ID, dm_channel_id
from tests.hygiene_world import World, make_world, open_issues, with_rules
from tests.marketing_server import Served, serve
from tests.slack_signing import (
    DEFAULT_TRIGGER_ID,
    FORM_CONTENT_TYPE,
    VERIFICATION_TOKEN,
    action_body,
    signed_headers,
)

TODAY, YESTERDAY = NOW.date(), NOW.date() - timedelta(days=1)
REP_ID = -1
"""Stands for the rep's user id in request bodies (known once Nudge runs)."""
Record = tuple[str, int]
"""(entity type, id) of a contact or deal."""


@dataclass
class Running:
    """One Nudge serving the API and Slack, and the ids its tests need."""

    served: Served
    api: Api
    world: World

    def body(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A request body, with the rep's user id where :data:`REP_ID` stands."""
        return {k: self.world.rep_id if v == REP_ID else v for k, v in fields.items()}


@pytest.fixture
async def running(database_url: str, app_config: AppConfig) -> AsyncIterator[Running]:
    """Nudge serving the API (with an all-scopes token) and Slack, rules as app.yaml ships."""
    async with serve(database_url, app_config) as served:
        await set_role(served.runtime, ADMIN, "admin")
        api = Api(served.runtime, served.client, await make_token(served.runtime))
        yield Running(served, api, await make_world(served.runtime))


async def _write(running: Running, method: str, path: str, fields: dict[str, Any]) -> int:
    """A write through the API; the id of the record written."""
    status, body = await running.api.call(method, path, json=running.body(fields))
    assert status in (200, 201), body
    return int(body["id"])


DEAL = {"name": "Globex rollout", "owner_id": REP_ID, "amount": 20_000,
        "close_date": (TODAY + timedelta(days=30)).isoformat()}  # fmt: skip


async def _deal(running: Running, **fields: Any) -> int:
    return await _write(running, "POST", "/deals", DEAL | fields)


async def _on(running: Running, record: Record) -> set[tuple[str, str]]:
    """(rule, kind of detail) of the record's open issues."""
    return {
        (rule, detail.partition(":")[0])
        for kind, entity_id, rule, detail in await open_issues(running.world)
        if (kind, entity_id) == record
    }


async def _issue(running: Running, record: Record, rule: str) -> HygieneIssue:
    async with unit_of_work(running.api.runtime.sessions) as session:
        query = select(HygieneIssue).where(
            HygieneIssue.entity_type == record[0],
            HygieneIssue.entity_id == record[1],
            HygieneIssue.rule == rule,
        )
        return (await session.exec(query)).one()


async def _slack(running: Running, payload: dict[str, Any]) -> str:
    """Post an interaction to /slack/events, signed; Nudge's answer."""
    body = action_body(payload)
    headers = signed_headers(body, SIGNING_SECRET, content_type=FORM_CONTENT_TYPE)
    response = await running.served.client.post("/slack/events", data=body, headers=headers)
    assert response.status == 200
    return await response.text()


USER = {
    "user": {"id": REP.slack_id, "username": "dana", "name": "dana", "team_id": TEAM_ID},
    "api_app_id": APP_ID, "token": VERIFICATION_TOKEN, "trigger_id": DEFAULT_TRIGGER_ID,
    "team": {"id": TEAM_ID, "domain": "nudge-test"},
}  # fmt: skip


async def _fix(running: Running, issue_id: int | None, values: dict[str, Any]) -> dict[str, Any]:
    """Press the Fix data button of the issue's nudge, submit the modal with these inputs;
    Nudge's answer to the submission (empty when the modal closes)."""
    fake = running.served.fake
    channel = dm_channel_id(REP.slack_id)
    seen = len(fake.calls_to("views.open"))
    await _slack(running, {
        "type": "block_actions", **USER, "response_url": fake.response_url(),
        "container": {"type": "message", "message_ts": "1732530000.000100", "channel_id": channel},
        "channel": {"id": channel, "name": "directmessage"},
        "actions": [{"type": "button", "action_id": FIX_ACTION, "block_id": f"fix:{issue_id}",
                     "value": str(issue_id), "action_ts": "1732530200.000300"}],
    })  # fmt: skip
    opened = (await fake.wait_for("views.open", count=seen + 1))[-1]
    assert opened.answer is not None
    state = {"values": {block: {"value": value} for block, value in values.items()}}
    view = {**opened.answer["view"], "state": state}
    answer = await _slack(running, {"type": "view_submission", **USER, "view": view})
    return dict(json.loads(answer)) if answer else {}


@pytest.mark.parametrize(
    ("faulty", "fine", "issue"),
    [
        pytest.param({"close_date": YESTERDAY.isoformat()}, {"close_date": TODAY.isoformat()},
                     ("close_date_past", ""), id="close_date_past"),
        pytest.param({"owner_id": None}, {"owner_id": REP_ID}, ("missing_owner", ""),
                     id="missing_owner"),
        pytest.param({"amount": 0}, {"amount": 1}, ("amount_outlier", "amount"),
                     id="amount_not_positive"),
        pytest.param({"stage": "Negotiation"}, {"stage": "Proposal"},
                     ("required_fields", "contact"), id="required_fields"),
    ],
)  # fmt: skip
async def test_an_api_write_opens_a_deal_rule_exactly_while_it_holds(
    running: Running, faulty: dict[str, Any], fine: dict[str, Any], issue: tuple[str, str]
) -> None:
    deal = await _deal(running, **faulty)
    assert await _on(running, ("deal", deal)) == {issue}
    await _write(running, "PATCH", f"/deals/{deal}", fine)
    assert await _on(running, ("deal", deal)) == set()
    await _write(running, "PATCH", f"/deals/{deal}", faulty)
    assert await _on(running, ("deal", deal)) == {issue}


OUTLIER = {("amount_outlier", "amount")}


@pytest.mark.parametrize("channel", ["api", "slack"])
@pytest.mark.parametrize(
    ("amount", "issues"), [(9_000_000, OUTLIER), (100, OUTLIER), (45_000, set())]
)
async def test_amount_outlier_opens_exactly_for_an_amount_far_from_the_usual(
    running: Running, channel: str, amount: int, issues: set[tuple[str, str]]
) -> None:
    """Against 20 usual amounts, set by the API or typed in the Fix data modal."""
    with_rules(running.api.runtime, {"rule": "amount_outlier"},
               {"rule": "required_fields", "stages": {"Negotiation": ["amount"]}})  # fmt: skip
    for n in range(20):
        await _deal(running, name=f"Usual {n}", amount=10_000 + 1_000 * n)
    if channel == "api":
        deal = await _deal(running, amount=amount)
    else:
        deal = await _deal(running, stage="Negotiation", amount=None)
        missing = await _issue(running, ("deal", deal), "required_fields")
        typed = {"type": "number_input", "value": str(amount)}
        assert await _fix(running, missing.id, {"amount": typed}) == {}
    assert await _on(running, ("deal", deal)) == issues


async def _late_deal(running: Running) -> Record:
    return "deal", await _deal(running, close_date=YESTERDAY.isoformat())


async def _unowned_deal(running: Running) -> Record:
    return "deal", await _deal(running, owner_id=None)


async def _contact_without_email(running: Running) -> Record:
    return "contact", await _write(running, "POST", "/contacts",
                                   {"phone": "(415) 555-0134", "name": "Bo Lee"})  # fmt: skip


async def _contact_with_a_bad_email(running: Running) -> Record:
    return "contact", await _write(running, "POST", "/contacts",
                                   {"email": "bo@localhost", "name": "Bo Lee"})  # fmt: skip


BAD_EMAIL = {"type": "email_text_input", "value": "bo@"}
GOOD_EMAIL = {"type": "email_text_input", "value": "bo@initech.example"}
Opener = Callable[[Running], Awaitable[Record]]


@pytest.mark.parametrize(
    ("opener", "rule", "block", "bad", "good", "refusal"),
    [
        pytest.param(_late_deal, "close_date_past", "close_date",
                     {"type": "datepicker", "selected_date": YESTERDAY.isoformat()},
                     {"type": "datepicker", "selected_date": TODAY.isoformat()},
                     "Pick today or a later date.", id="close_date_past"),
        pytest.param(_contact_without_email, "contact_details", "email",
                     BAD_EMAIL, GOOD_EMAIL, "That does not look like an email address.",
                     id="missing_email"),
        pytest.param(_contact_with_a_bad_email, "contact_details", "email",
                     BAD_EMAIL, GOOD_EMAIL, "That does not look like an email address.",
                     id="invalid_email"),
        pytest.param(_unowned_deal, "missing_owner", "owner",
                     {"type": "users_select", "selected_user": "U0STRANGER"},
                     {"type": "users_select", "selected_user": REP.slack_id},
                     "Pick someone on the sales team (app.yaml, crm.team).", id="missing_owner"),
    ],
)  # fmt: skip
async def test_the_fix_modal_clears_what_an_api_write_opened(
    running: Running, opener: Opener, rule: str, block: str,
    bad: dict[str, Any], good: dict[str, Any], refusal: str,
) -> None:  # fmt: skip
    record = await opener(running)
    issue = await _issue(running, record, rule)
    assert issue.closed_at is None
    assert await _fix(running, issue.id, {block: bad}) == {
        "response_action": "errors", "errors": {block: refusal}
    }  # fmt: skip
    assert await _fix(running, issue.id, {block: good}) == {}
    issue = await _issue(running, record, rule)
    assert (issue.resolution, issue.closed_by) == ("fixed", f"slack:{REP.slack_id}")
    assert await _on(running, record) == set()


@pytest.mark.parametrize(
    ("applies_to", "issues"), [(["deal"], set()), (["deal", "contact"], {("missing_owner", "")})]
)
async def test_an_unowned_contact_from_the_api_is_flagged_only_when_the_rule_covers_contacts(
    running: Running, applies_to: list[str], issues: set[tuple[str, str]]
) -> None:
    with_rules(running.api.runtime, {"rule": "missing_owner", "applies_to": applies_to})
    contact = await _write(running, "POST", "/contacts", {"email": "bo@initech.example"})
    assert await _on(running, ("contact", contact)) == issues
    await _write(running, "PATCH", f"/contacts/{contact}", {"owner_id": REP_ID})
    assert await _on(running, ("contact", contact)) == set()


ANA = PersonIn(email="ana.silva@globex.example", name="Ana Silva")
ANA_HOME = PersonIn(email="ana.home@gmail.com", name="Ana Silva")  # a weak match: proposed
RAJ = PersonIn(email="raj.patel@globex.example", name="Raj Patel")  # a colleague of Ana's


@pytest.mark.parametrize(
    ("people", "issues"),
    [
        pytest.param((ANA, ANA_HOME), {(1, "duplicate", "contact")}, id="duplicate"),
        pytest.param((ANA, RAJ), set(), id="colleagues"),
        pytest.param((PersonIn(phone="+14155550100", name="Bo Lee"),),
                     {(0, "contact_details", "missing_email")}, id="missing_email"),
        pytest.param((PersonIn(email="cy@initech.example", phone="+1123", name="Cy"),),
                     {(0, "contact_details", "invalid_phone")}, id="invalid_phone"),
        pytest.param((PersonIn(email="cy@initech.example", phone="+14155550100", name="Cy"),),
                     set(), id="complete"),
    ],
)  # fmt: skip
async def test_capture_opens_a_contact_rule_exactly_when_it_holds(
    running: Running, people: tuple[PersonIn, ...], issues: set[tuple[int, str, str]]
) -> None:
    runtime = running.api.runtime
    for n, person in enumerate(people):
        await capture(runtime, ActivityIn(
            source="call", external_id=f"call-{n}", kind="call", people=(person,),
            occurred_at=NOW - timedelta(hours=10 - n), direction="inbound", rep_email=REP.email,
        ))  # fmt: skip
    found = set()
    for n, person in enumerate(people):
        found |= {(n, *issue) for issue in await _on(running, await _contact_of(running, person))}
    assert found == issues


async def _contact_of(running: Running, person: PersonIn) -> Record:
    async with unit_of_work(running.api.runtime.sessions) as session:
        query = select(ContactIdentity.contact_id).where(
            ContactIdentity.value == (person.email or person.phone)
        )
        return "contact", (await session.exec(query)).one()
