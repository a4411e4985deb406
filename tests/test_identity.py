"""Exact-key identity resolution: plus-tags and case, E.164 phones, free-mail domains."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, func, select

from bot.flows import capture
from bot.runtime import Runtime
from models.account import Account
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.services.freemail import is_free_mail
from models.services.identity import company_domain, normalize_email, normalize_phone
from models.services.inputs import ActivityIn, PersonIn
from tests.conftest import NOW, REP


def _mail(external_id: str, person: PersonIn, hours_ago: int = 1) -> ActivityIn:
    return ActivityIn(
        source="email", external_id=external_id, kind="email",
        occurred_at=NOW - timedelta(hours=hours_ago), people=(person,), direction="in",
        rep_email=REP.email, subject="Pricing",
    )  # fmt: skip


async def _contacts(runtime: Runtime) -> list[Contact]:
    async with unit_of_work(runtime.sessions) as session:
        return list((await session.exec(select(Contact).order_by(col(Contact.id)))).all())


def test_plus_tags_and_case_do_not_make_another_person() -> None:
    assert normalize_email(" Ana.Silva+Deals@GLOBEX.example") == "ana.silva@globex.example"
    assert normalize_email("ana.silva@globex.example") == "ana.silva@globex.example"


def test_phones_written_any_international_way_are_one_e164_key() -> None:
    assert normalize_phone("+1 (415) 555-0134") == "+14155550134"
    assert normalize_phone("+1.415.555.0134") == "+14155550134"
    assert normalize_phone("not a number") == "not a number"


def test_free_mail_domains_come_from_the_maintained_list() -> None:
    for domain in ("gmail.com", "yahoo.co.uk", "proton.me", "web.de", "mail.ru", "163.com"):
        assert is_free_mail(domain), domain
    assert company_domain("ana@outlook.com") is None
    assert company_domain("ana@globex.example") == "globex.example"
    assert not is_free_mail("globex.example")


async def test_plus_tagged_mail_resolves_to_the_same_contact(runtime: Runtime) -> None:
    await capture(
        runtime, _mail("m1", PersonIn(email="ana.silva@globex.example", name="Ana Silva"))
    )
    await capture(runtime, _mail("m2", PersonIn(email="Ana.Silva+deals@Globex.Example")))
    contacts = await _contacts(runtime)
    assert [c.name for c in contacts] == ["Ana Silva"]


async def test_a_phone_in_any_format_finds_the_contact(runtime: Runtime) -> None:
    caller = PersonIn(email="omar@initech.example", name="Omar Haddad", phone="+1 415-555-0134")
    await capture(runtime, _mail("m1", caller))
    await capture(runtime, _mail("call-1", PersonIn(phone="+14155550134")))
    contacts = await _contacts(runtime)
    assert len(contacts) == 1
    async with unit_of_work(runtime.sessions) as session:
        phones = (
            await session.exec(select(ContactIdentity.value).where(ContactIdentity.kind == "phone"))
        ).all()
    assert phones == ["+14155550134"]


async def test_free_mail_gives_no_company(runtime: Runtime) -> None:
    await capture(runtime, _mail("m1", PersonIn(email="bob.jones@gmail.com", name="Bob Jones")))
    await capture(runtime, _mail("m2", PersonIn(email="kim@mail.yahoo.co.uk", name="Kim Lee")))
    await capture(runtime, _mail("m3", PersonIn(email="ana@globex.example", name="Ana Silva")))
    by_name = {c.name: c for c in await _contacts(runtime)}
    assert by_name["Bob Jones"].account_id is None
    assert by_name["Kim Lee"].account_id is None
    assert by_name["Ana Silva"].account_id is not None
    async with unit_of_work(runtime.sessions) as session:
        domains = (await session.exec(select(Account.domain))).all()
        accounts = (await session.exec(select(func.count()).select_from(Account))).one()
    assert domains == ["globex.example"]
    assert accounts == 1
