"""Records for the hygiene tests, written straight into the database, and a look at the issues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.config import AppConfig
from bot.runtime import Runtime
from models.account import Account
from models.activity import Activity, ActivityParticipant
from models.config import CrmConfig
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue
from models.hygiene_config import HygieneConfig
from models.nudge import Nudge
from models.services.hygiene import HygieneResult, recheck
from models.workspace import User
from tests.conftest import NOW, REP


@dataclass
class World:
    """A runtime and the ids it needs."""

    runtime: Runtime
    rep_id: int
    account_id: int

    @property
    def workspace_id(self) -> int:
        return self.runtime.workspace_id


def with_rules(runtime: Runtime, *rules: dict[str, Any]) -> CrmConfig:
    """Swap the runtime's hygiene rules for these (as app.yaml would list them)."""
    crm = runtime.config.crm.model_copy(
        update={"hygiene": HygieneConfig.model_validate({"rules": list(rules)})}
    )
    runtime.config = AppConfig(slack=runtime.config.slack, crm=crm)
    return crm


async def make_world(runtime: Runtime) -> World:
    async with unit_of_work(runtime.sessions) as session:
        rep = (await session.exec(select(User).where(User.slack_user_id == REP.slack_id))).one()
        query = select(Account).where(Account.domain == "globex.example")
        account = (await session.exec(query)).first() or Account(
            workspace_id=runtime.workspace_id, name="Globex", domain="globex.example"
        )
        session.add(account)
        await session.flush()
        assert rep.id is not None
        assert account.id is not None
        return World(runtime, rep.id, account.id)


async def add_contact(
    world: World,
    name: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    owned: bool = True,
    account: bool = True,
    last_touch: datetime | None = None,
    created: datetime = NOW - timedelta(days=1),
) -> int:
    async with unit_of_work(world.runtime.sessions) as session:
        contact = Contact(
            workspace_id=world.workspace_id, name=name,
            owner_id=world.rep_id if owned else None,
            account_id=world.account_id if account else None,
            last_touch_at=last_touch, created_at=created,
        )  # fmt: skip
        session.add(contact)
        await session.flush()
        assert contact.id is not None
        for kind, value in (("email", email), ("phone", phone)):
            if value:
                identity = ContactIdentity(
                    workspace_id=world.workspace_id, contact_id=contact.id, kind=kind, value=value
                )
                session.add(identity)
        return contact.id


async def add_deal(
    world: World,
    name: str,
    *,
    stage: str = "Discovery",
    amount: float | None = 20_000,
    close_date: date | None = None,
    owned: bool = True,
    contacts: tuple[int, ...] = (),
    created: datetime = NOW - timedelta(days=2),
    outcome: str = "open",
) -> int:
    async with unit_of_work(world.runtime.sessions) as session:
        deal = Deal(
            workspace_id=world.workspace_id, name=name, stage=stage, amount=amount,
            close_date=close_date, owner_id=world.rep_id if owned else None,
            account_id=world.account_id, created_at=created, outcome=outcome,
        )  # fmt: skip
        session.add(deal)
        await session.flush()
        assert deal.id is not None
        for contact_id in contacts:
            session.add(DealContact(workspace_id=world.workspace_id, deal_id=deal.id,
                                    contact_id=contact_id))  # fmt: skip
        return deal.id


async def add_activity(world: World, contact_id: int, at: datetime, external_id: str) -> None:
    async with unit_of_work(world.runtime.sessions) as session:
        activity = Activity(
            workspace_id=world.workspace_id, kind="email", source="test",
            external_id=external_id, contact_id=contact_id, occurred_at=at,
        )  # fmt: skip
        session.add(activity)
        await session.flush()
        assert activity.id is not None
        link = ActivityParticipant(
            workspace_id=world.workspace_id, activity_id=activity.id, contact_id=contact_id
        )
        session.add(link)


async def check(
    world: World, *, contacts: tuple[int, ...] = (), deals: tuple[int, ...] = (),
    now: datetime = NOW,
) -> HygieneResult:  # fmt: skip
    async with unit_of_work(world.runtime.sessions) as session:
        return await recheck(
            session=session, workspace_id=world.workspace_id, config=world.runtime.config.crm,
            now=now, actor="test", contact_ids=contacts, deal_ids=deals,
        )  # fmt: skip


async def open_issues(world: World) -> set[tuple[str, int, str, str]]:
    """(entity type, id, rule, detail) of every open issue."""
    async with unit_of_work(world.runtime.sessions) as session:
        rows = await session.exec(select(HygieneIssue).where(col(HygieneIssue.closed_at).is_(None)))
        return {(i.entity_type, i.entity_id, i.rule, i.detail) for i in rows.all()}


async def all_issues(world: World) -> list[HygieneIssue]:
    async with unit_of_work(world.runtime.sessions) as session:
        return list((await session.exec(select(HygieneIssue).order_by(col(HygieneIssue.id)))).all())


async def nudges_of(world: World, cause: str = "data_incomplete") -> list[Nudge]:
    async with unit_of_work(world.runtime.sessions) as session:
        rows = await session.exec(select(Nudge).where(Nudge.cause == cause).order_by(col(Nudge.id)))
        return list(rows.all())
