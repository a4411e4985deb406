"""``/deals``: list, read, create, update; closing one won or lost teaches the model."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from bot.api.framework import (
    ApiError,
    Call,
    Operation,
    Reply,
    check_hygiene,
    exists,
    page_of,
    record_of,
    within_reach,
)
from bot.api.schemas import DealCreate, DealQuery, DealRead, DealUpdate, Page
from models.account import Account
from models.contact import Contact
from models.deal import Deal, DealContact, DealStageChange
from models.services.audit import record_audit
from models.services.deals import CLOSED_STAGES, close_deal, upsert_deal
from models.services.profile import like_pattern
from models.workspace import User

FIELDS = ("name", "stage", "amount", "close_date", "account_id", "owner_id")


async def deal_reads(call: Call, deals: list[Deal]) -> list[DealRead]:
    """The API shape of deals, their contacts loaded in one query."""
    ids = [d.id for d in deals]
    linked: dict[int, list[int]] = {}
    if ids:
        query = (
            select(DealContact)
            .where(col(DealContact.deal_id).in_(ids))
            .order_by(col(DealContact.id))
        )
        for link in (await call.session.exec(query)).all():
            linked.setdefault(link.deal_id, []).append(link.contact_id)
    return [
        DealRead.model_validate(d.model_dump() | {"contact_ids": linked.get(d.id or 0, [])})
        for d in deals
    ]


async def list_deals(call: Call) -> Page[DealRead]:
    """Deals in id order, filtered."""
    query: DealQuery = call.query
    where: list[ColumnElement[bool]] = [col(Deal.workspace_id) == call.workspace_id]
    for value, column in (
        (query.owner, Deal.owner_id),
        (query.account_id, Deal.account_id),
        (query.stage, Deal.stage),
        (query.outcome, Deal.outcome),
    ):
        if value is not None:
            where.append(col(column) == value)
    if query.contact_id is not None:
        on_deal = select(DealContact.deal_id).where(DealContact.contact_id == query.contact_id)
        where.append(col(Deal.id).in_(on_deal))
    if query.q:
        pattern = like_pattern(query.q.casefold())
        where.append(func.lower(col(Deal.name)).like(pattern, escape="\\"))
    if query.updated_since is not None:
        where.append(
            func.coalesce(col(Deal.updated_at), col(Deal.created_at)) >= query.updated_since
        )
    rows, next_path = await page_of(call, select(Deal), Deal.id, where)
    return Page[DealRead](data=await deal_reads(call, rows), next=next_path)


async def get_deal(call: Call) -> DealRead:
    """One deal."""
    return (await deal_reads(call, [await record_of(call, Deal, "deal")]))[0]


async def _check_links(call: Call, fields: dict[str, Any], contact_ids: list[int]) -> None:
    """Refuse an account, owner or contact that is not in this workspace, and a contact the
    token's person may not see."""
    checks = [("account_id", Account, fields.get("account_id")),
              ("owner_id", User, fields.get("owner_id"))]  # fmt: skip
    for field, table, value in checks:
        if value is not None and not await exists(call.session, table, value, call.workspace_id):
            raise _no_such(field, value)
    for contact_id in contact_ids:
        contact = await call.session.get(Contact, contact_id)
        if contact is None or contact.workspace_id != call.workspace_id:
            raise _no_such("contact_ids", contact_id)
        await within_reach(call, contact, "contact")


def _no_such(field: str, value: int) -> ApiError:
    return ApiError(400, "invalid_body", f"{field}: no such record {value}", [{"field": field}])


async def _link(call: Call, deal: Deal, contact_ids: list[int]) -> None:
    assert deal.id is not None
    linked = select(DealContact.contact_id).where(DealContact.deal_id == deal.id)
    present = set((await call.session.exec(linked)).all())
    for contact_id in dict.fromkeys(contact_ids):
        if contact_id not in present:
            call.session.add(
                DealContact(workspace_id=deal.workspace_id, deal_id=deal.id, contact_id=contact_id)
            )
    await call.session.flush()


async def create_deal(call: Call) -> DealRead | Reply:
    """A new deal (201), or the one that already has this ``external_id`` (200)."""
    body: DealCreate = call.body
    if body.external_id is not None:
        known = (
            await call.session.exec(
                select(Deal).where(
                    Deal.workspace_id == call.workspace_id, Deal.external_id == body.external_id
                )
            )
        ).first()
        if known is not None:
            await within_reach(call, known, "deal")
            return Reply(200, (await deal_reads(call, [known]))[0])
    await _check_links(call, body.model_dump(), body.contact_ids)
    deal = await upsert_deal(
        session=call.session, workspace_id=call.workspace_id,
        external_id=body.external_id or f"api-{uuid.uuid4().hex}", name=body.name,
        account_id=body.account_id, contact_id=None, owner_id=body.owner_id, stage=body.stage,
        amount=body.amount, created_at=call.runtime.clock(), close_date=body.close_date,
        actor=call.actor,
    )  # fmt: skip
    await _link(call, deal, body.contact_ids)
    await record_audit(
        session=call.session, workspace_id=call.workspace_id, actor=call.actor,
        action="deal.created", target_type="deal", target_id=deal.id,
        after=body.model_dump(mode="json", exclude_none=True),
    )  # fmt: skip
    await check_hygiene(call, deal_ids=[deal.id])
    return Reply(201, (await deal_reads(call, [deal]))[0])


async def update_deal(call: Call) -> DealRead:
    """Change the fields sent; a stage move is recorded; an outcome closes the deal."""
    body: DealUpdate = call.body
    deal = await record_of(call, Deal, "deal")
    sent = body.model_dump(include=set(FIELDS) & body.model_fields_set)
    for required in ("name", "stage"):
        if required in sent and sent[required] is None:
            raise ApiError(
                400, "invalid_body", f"{required}: cannot be null", [{"field": required}]
            )
    if deal.outcome != "open" and ("stage" in sent or body.outcome is not None):
        raise ApiError(409, "deal_closed", f"the deal is already closed {deal.outcome}")
    if sent.get("stage") in CLOSED_STAGES.values():
        raise ApiError(400, "invalid_body", "stage: close a deal with outcome won or lost")
    await _check_links(call, sent, body.add_contact_ids)
    changes = {k: v for k, v in sent.items() if getattr(deal, k) != v}
    now = call.runtime.clock()
    if changes:
        before = {k: getattr(deal, k) for k in changes}
        if "stage" in changes and deal.id is not None:
            call.session.add(
                DealStageChange(
                    workspace_id=deal.workspace_id, deal_id=deal.id, from_stage=deal.stage,
                    to_stage=changes["stage"], actor=call.actor, changed_at=now,
                )
            )  # fmt: skip
        for field, value in changes.items():
            setattr(deal, field, value)
        deal.updated_at = now
        call.session.add(deal)
        await record_audit(
            session=call.session, workspace_id=call.workspace_id, actor=call.actor,
            action="deal.updated", target_type="deal", target_id=deal.id,
            before=_jsonable(before), after=_jsonable(changes),
        )  # fmt: skip
    await _link(call, deal, body.add_contact_ids)
    if body.outcome is not None:
        assert call.pending is not None
        await close_deal(
            session=call.session, pending=call.pending, deal=deal, outcome=body.outcome, at=now,
            actor=call.actor, config=call.runtime.config.crm, salt=call.runtime.salt,
        )  # fmt: skip
    await check_hygiene(call, deal_ids=[deal.id])
    return (await deal_reads(call, [deal]))[0]


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}


OPERATIONS = (
    Operation("GET", "/deals", "listDeals", "List deals", "deals:read", "deals", list_deals,
              Page[DealRead], query=DealQuery),
    Operation("POST", "/deals", "createDeal", "Create a deal (or find it by external_id)",
              "deals:write", "deals", create_deal, DealRead, body=DealCreate, status=201,
              also=(200,)),
    Operation("GET", "/deals/{id}", "getDeal", "Get a deal", "deals:read", "deals", get_deal,
              DealRead),
    Operation("PATCH", "/deals/{id}", "updateDeal", "Update, move or close a deal",
              "deals:write", "deals", update_deal, DealRead, body=DealUpdate, learns=True,
              also=(409,)),
)  # fmt: skip
