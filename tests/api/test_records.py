"""Records through the API: pagination, filters, writes visible everywhere, audited by token."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from models.audit import AuditEntry
from models.contact import Contact
from models.db import unit_of_work
from models.deal import Deal, DealStageChange
from models.hygiene import HygieneIssue
from models.learning import LearningLogEntry
from models.services.identity import resolve_contact
from models.services.inputs import PersonIn
from models.types import utcnow
from tests.api.served import Api
from tests.conftest import NOW


async def _contact(api: Api, email: str, **fields: object) -> dict:  # type: ignore[type-arg]
    status, body = await api.call("POST", "/contacts", json={"email": email, **fields})
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def test_pages_follow_next_links_until_every_contact_is_seen(api: Api) -> None:
    made = [await _contact(api, f"lead{n}@globex.example", name=f"Lead {n}") for n in range(7)]
    status, first = await api.call("GET", "/contacts", params={"limit": 3})
    assert status == 200
    assert [c["id"] for c in first["data"]] == [c["id"] for c in made[:3]]
    assert first["next"].startswith("/api/v1/contacts?")
    seen = await api.all_pages("/contacts", limit=3)
    assert [c["id"] for c in seen] == [c["id"] for c in made]
    status, body = await api.call("GET", "/contacts", params={"cursor": "bm90LW91cnM="})
    assert (status, body["error"]) == (400, "invalid_cursor")


async def test_filters_narrow_the_lists(api: Api) -> None:
    ana = await _contact(api, "ana.silva@globex.example", name="Ana Silva", title="CFO")
    await _contact(api, "bo@initech.example", name="Bo Chen")
    assert [c["id"] for c in await api.all_pages("/contacts", q="silva")] == [ana["id"]]
    assert [c["id"] for c in await api.all_pages("/contacts", q="GLOBEX")] == [ana["id"]]
    assert [c["id"] for c in await api.all_pages("/contacts", account_id=ana["account_id"])] == [
        ana["id"]
    ]
    later = (utcnow() + timedelta(days=1)).isoformat()
    assert await api.all_pages("/contacts", updated_since=later) == []
    status, body = await api.call("GET", "/contacts", params={"updated_since": "2026-11-20"})
    assert (status, body["error"]) == (400, "invalid_query")
    assert body["details"][0]["field"] == "updated_since"

    status, deal = await api.call(
        "POST", "/deals", json={"name": "Globex rollout", "stage": "Negotiation",
                                "contact_ids": [ana["id"]], "amount": 50000},
    )  # fmt: skip
    assert status == 201, deal
    await api.call("POST", "/deals", json={"name": "Initech pilot"})
    assert [d["id"] for d in await api.all_pages("/deals", stage="Negotiation")] == [deal["id"]]
    assert [d["id"] for d in await api.all_pages("/deals", contact_id=ana["id"])] == [deal["id"]]
    assert [d["name"] for d in await api.all_pages("/deals", q="pilot")] == ["Initech pilot"]
    accounts = await api.all_pages("/accounts", q="initech")
    assert [a["domain"] for a in accounts] == ["initech.example"]


async def test_a_contact_created_by_the_api_shows_in_its_profile(api: Api) -> None:
    ana = await _contact(
        api,
        "Ana.Silva@Globex.example",
        name="Ana Silva",
        title="VP Finance",
        phone="(415) 555-0134",
    )
    assert ana["emails"] == ["ana.silva@globex.example"]
    assert ana["phones"] == ["+14155550134"]
    status, profile = await api.call("GET", f"/contacts/{ana['id']}/profile")
    assert status == 200, profile
    assert (profile["contact_id"], profile["name"], profile["title"]) == (
        ana["id"], "Ana Silva", "VP Finance",
    )  # fmt: skip
    assert profile["emails"] == ["ana.silva@globex.example"]
    assert profile["company"]["domain"] == "globex.example"
    assert profile["score"]["value"] == ana["score"]


async def test_creating_again_returns_the_same_records(api: Api) -> None:
    first = await _contact(api, "ana.silva@globex.example", name="Ana Silva")
    status, again = await api.call("POST", "/contacts", json={"email": "ana.silva@globex.example"})
    assert (status, again["id"]) == (200, first["id"])
    deal = {"name": "Globex rollout", "external_id": "erp-77"}
    status, made = await api.call("POST", "/deals", json=deal)
    assert status == 201
    status, repeat = await api.call("POST", "/deals", json=deal)
    assert (status, repeat["id"]) == (200, made["id"])
    async with unit_of_work(api.runtime.sessions) as session:
        assert len((await session.exec(select(Deal))).all()) == 1


async def test_changes_through_any_channel_are_visible_through_the_others(api: Api) -> None:
    async with unit_of_work(api.runtime.sessions) as session:
        captured = await resolve_contact(
            session=session, workspace_id=api.runtime.workspace_id,
            person=PersonIn(email="bo@initech.example", name="Bo Chen"), source="mail",
        )  # fmt: skip
    status, seen = await api.call("GET", f"/contacts/{captured.id}")
    assert (status, seen["name"]) == (200, "Bo Chen")

    status, changed = await api.call(
        "PATCH", f"/contacts/{captured.id}", json={"title": "Head of Data", "name": "Bo Chen-Li"}
    )
    assert status == 200, changed
    async with unit_of_work(api.runtime.sessions) as session:
        stored = await session.get(Contact, captured.id)
    assert stored is not None
    assert (stored.name, stored.title) == ("Bo Chen-Li", "Head of Data")
    status, body = await api.call("PATCH", f"/contacts/{captured.id}", json={"name": None})
    assert (status, body["error"]) == (400, "invalid_body")
    status, body = await api.call("PATCH", f"/contacts/{captured.id}", json={"owner_id": 999})
    assert (status, body["message"]) == (400, "owner_id: no such user")


async def test_deals_move_and_close_through_the_api(api: Api) -> None:
    ana = await _contact(api, "ana.silva@globex.example", name="Ana Silva")
    status, deal = await api.call(
        "POST", "/deals", json={"name": "Globex rollout", "contact_ids": [ana["id"]]}
    )
    assert status == 201
    status, moved = await api.call("PATCH", f"/deals/{deal['id']}", json={"stage": "Proposal"})
    assert (status, moved["stage"]) == (200, "Proposal")
    api.runtime.clock = lambda: NOW + timedelta(days=3)  # won three days after the scoring
    status, won = await api.call("PATCH", f"/deals/{deal['id']}", json={"outcome": "won"})
    assert status == 200, won
    assert (won["outcome"], won["stage"]) == ("won", "Closed Won")
    status, again = await api.call("PATCH", f"/deals/{deal['id']}", json={"outcome": "lost"})
    assert (status, again["error"]) == (409, "deal_closed")
    async with unit_of_work(api.runtime.sessions) as session:
        stages = (
            await session.exec(select(DealStageChange.to_stage).order_by(col(DealStageChange.id)))
        ).all()
        learned = (await session.exec(select(LearningLogEntry))).all()
    assert list(stages) == ["Discovery", "Proposal", "Closed Won"]
    assert len(learned) == 1


async def test_writes_and_personal_reads_are_audited_with_the_token(api: Api) -> None:
    ana = await _contact(api, "ana.silva@globex.example", name="Ana Silva")
    await api.call("GET", f"/contacts/{ana['id']}")
    await api.call("PATCH", f"/contacts/{ana['id']}", json={"title": "CFO"})
    async with unit_of_work(api.runtime.sessions) as session:
        rows = (
            await session.exec(select(AuditEntry).where(col(AuditEntry.actor).startswith("token:")))
        ).all()
    actions = [(r.action, r.target_id) for r in rows]
    contact_id = str(ana["id"])
    assert actions == [
        ("contact.created", contact_id), ("api.read", contact_id), ("contact.updated", contact_id),
    ]  # fmt: skip
    assert rows[-1].before == {"title": None}
    assert rows[-1].after == {"title": "CFO"}
    status, trail = await api.call("GET", "/audit", params={"action": "contact.updated"})
    assert status == 200
    assert [r["target_id"] for r in trail["data"]] == [contact_id]


async def test_api_writes_are_checked_by_the_hygiene_rules_but_never_blocked(api: Api) -> None:
    status, deal = await api.call(
        "POST", "/deals", json={"name": "Globex rollout", "stage": "Negotiation"}
    )
    assert status == 201  # saved, whatever the rules say
    open_rules = await _open_issue_rules(api, deal["id"])
    assert "required_fields" in open_rules
    ana = await _contact(api, "ana.silva@globex.example", name="Ana Silva")
    status, _ = await api.call(
        "PATCH", f"/deals/{deal['id']}", json={"add_contact_ids": [ana["id"]]}
    )
    assert status == 200
    assert "required_fields" not in await _open_issue_rules(api, deal["id"])


async def _open_issue_rules(api: Api, deal_id: int) -> list[str]:
    async with unit_of_work(api.runtime.sessions) as session:
        rows = await session.exec(
            select(HygieneIssue.rule).where(
                HygieneIssue.entity_type == "deal",
                HygieneIssue.entity_id == deal_id,
                col(HygieneIssue.closed_at).is_(None),
            )
        )
        return list(rows.all())
