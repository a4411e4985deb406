"""Contacts created through the API are deduplicated as captured ones are."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from models.db import unit_of_work
from models.hygiene import MergeProposal, MergeRecord
from models.nudge import Nudge
from models.workspace import User
from tests.api.served import Api
from tests.conftest import REP


async def _dana(api: Api) -> int:
    async with unit_of_work(api.runtime.sessions) as session:
        dana = (await session.exec(select(User).where(User.slack_user_id == REP.slack_id))).one()
    assert dana.id is not None
    return dana.id


async def _post(api: Api, **fields: Any) -> tuple[int, dict[str, Any]]:
    status, body = await api.call("POST", "/contacts", json=fields)
    assert status in (200, 201), body
    return status, body


async def test_a_strong_duplicate_is_merged_and_the_survivor_answered(api: Api) -> None:
    _, ana = await _post(api, email="ana.silva@globex.example", name="Ana Silva", title="CFO")
    status, again = await _post(api, email="ana@globex.example", name="Ana Silva")
    assert status == 200
    assert (again["id"], again["merged_into_id"], again["title"]) == (ana["id"], None, "CFO")
    assert again["emails"] == ["ana.silva@globex.example", "ana@globex.example"]
    assert [c["id"] for c in await api.all_pages("/contacts", q="silva")] == [ana["id"]]
    async with unit_of_work(api.runtime.sessions) as session:
        (merge,) = (await session.exec(select(MergeRecord))).all()
    assert merge.survivor_id == ana["id"]
    status, merged = await api.call("GET", f"/contacts/{merge.merged_id}")
    assert (status, merged["merged_into_id"]) == (200, ana["id"])
    status, retried = await _post(api, email="ana@globex.example", name="Ana Silva")
    assert (status, retried["id"]) == (200, ana["id"])


async def test_a_weak_duplicate_is_created_and_proposed_to_its_owner(api: Api) -> None:
    dana = await _dana(api)
    _, ana = await _post(api, email="ana.silva@globex.example", name="Ana Silva", owner_id=dana)
    status, other = await _post(api, email="ana.silva.1990@gmail.com", name="Ana Silva")
    assert status == 201
    assert (other["merged_into_id"], other["emails"]) == (None, ["ana.silva.1990@gmail.com"])
    async with unit_of_work(api.runtime.sessions) as session:
        (proposal,) = (await session.exec(select(MergeProposal))).all()
        nudges = (await session.exec(select(Nudge).where(Nudge.cause == "merge_proposal"))).all()
        assert (await session.exec(select(MergeRecord))).all() == []
    assert (proposal.contact_a_id, proposal.contact_b_id, proposal.state) == (
        ana["id"], other["id"], "open",
    )  # fmt: skip
    assert [(n.recipient_id, n.payload["proposal_id"]) for n in nudges] == [(dana, proposal.id)]
