"""Identity resolution by exact keys: normalized email, E.164 phone, and the company behind a
domain (never a free-mail provider's: see :mod:`models.services.freemail`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

import phonenumbers
from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.contact import Contact, ContactChange, ContactIdentity
from models.db import add_unless_taken, insert_rows, query_rows, table_of
from models.services.freemail import is_free_mail
from models.services.inputs import PersonIn
from models.services.text import cut
from models.types import utcnow


def normalize_email(address: str) -> str:
    """Lower-case, trimmed, without a plus-tag in the local part.

    >>> normalize_email(" Ana.Silva+deals@Globex.Example ")
    'ana.silva@globex.example'
    """
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if local else address.strip().lower()


def company_domain(email: str) -> str | None:
    """The company domain of an address, or None for free-mail providers.

    >>> company_domain("bob@gmail.com") is None
    True
    >>> company_domain("ana@eu.globex.example")
    'eu.globex.example'
    """
    domain = email.rpartition("@")[2]
    return None if not domain or is_free_mail(domain) else domain


@lru_cache(maxsize=65_536)  # the same numbers and names come back all day
def normalize_phone(number: str) -> str:
    """E.164 for an international number however it is written; other text only trimmed.

    >>> normalize_phone(" +1 (415) 555-0134 "), normalize_phone("+44 20 7183 8750")
    ('+14155550134', '+442071838750')
    >>> normalize_phone("ext. 12")
    'ext. 12'
    """
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number.strip()
    if not phonenumbers.is_possible_number(parsed):
        return number.strip()
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _company_name(domain: str) -> str:
    return domain.split(".")[0].replace("-", " ").title()


async def resolve_account(
    *, session: AsyncSession, workspace_id: int, domain: str, company: str | None
) -> Account:
    """The account for a company domain, created on first sight."""
    query = select(Account).where(Account.workspace_id == workspace_id, Account.domain == domain)
    account = (await session.exec(query)).first()
    if account is None:
        account = Account(
            workspace_id=workspace_id, domain=domain, name=company or _company_name(domain)
        )
        session.add(account)
        await session.flush()
    elif company and account.name == _company_name(domain) and company != account.name:
        account.name, account.updated_at = company, utcnow()
        session.add(account)
    return account


async def _identity(
    session: AsyncSession, workspace_id: int, kind: str, value: str
) -> ContactIdentity | None:
    query = select(ContactIdentity).where(
        ContactIdentity.workspace_id == workspace_id,
        ContactIdentity.kind == kind,
        ContactIdentity.value == value,
    )
    return (await session.exec(query)).first()


def _note_change(
    session: AsyncSession, contact: Contact, field: str, new: str | None, source: str
) -> None:
    old = getattr(contact, field)
    if new and new != old:
        if old is not None:
            assert contact.id is not None
            session.add(
                ContactChange(
                    workspace_id=contact.workspace_id,
                    contact_id=contact.id,
                    field=field,
                    old_value=old,
                    new_value=new,
                    source=source,
                )
            )
        setattr(contact, field, new)
        contact.updated_at = utcnow()


async def find_contact(
    *, session: AsyncSession, workspace_id: int, person: PersonIn
) -> Contact | None:
    """The known contact behind any of a person's keys (email, phone, web visitor id)."""
    keys = (
        ("email", normalize_email(person.email) if person.email else None),
        ("phone", normalize_phone(person.phone) if person.phone else None),
        ("visitor", person.visitor_id),
    )
    for kind, value in keys:
        if value:
            identity = await _identity(session, workspace_id, kind, value)
            if identity is not None:
                return await session.get(Contact, identity.contact_id)
    return None


async def _known_identities(
    session: AsyncSession, workspace_id: int, kind: str, values: set[str]
) -> dict[str, int]:
    if not values:
        return {}
    params = {"workspace_id": workspace_id, "kind": kind, "values": list(values)}
    return {value: contact_id for value, contact_id in await query_rows(session, _KNOWN, **params)}


_IDENTITY = table_of(ContactIdentity)
_KNOWN = select(_IDENTITY.c.value, _IDENTITY.c.contact_id).where(
    _IDENTITY.c.workspace_id == bindparam("workspace_id"),
    _IDENTITY.c.kind == bindparam("kind"),
    _IDENTITY.c.value.in_(bindparam("values", expanding=True)),
)
"""Built once: every capture resolves its people through it."""
_CONTACTS = select(Contact).where(col(Contact.id).in_(bindparam("ids", expanding=True)))


async def _accounts_for(
    session: AsyncSession, workspace_id: int, companies: dict[str, str | None]
) -> dict[str, Account]:
    """The account of every company domain, creating the missing ones."""
    if not companies:
        return {}
    query = select(Account).where(
        Account.workspace_id == workspace_id, col(Account.domain).in_(companies)
    )
    found = {a.domain or "": a for a in (await session.exec(query)).all()}
    for domain, company in companies.items():
        if domain not in found:
            found[domain] = await _new_account(session, workspace_id, domain, company)
    return found


async def _new_account(
    session: AsyncSession, workspace_id: int, domain: str, company: str | None
) -> Account:
    """Create an account, or take the one another worker created a moment earlier."""
    account = Account(
        workspace_id=workspace_id, domain=domain, name=company or _company_name(domain)
    )
    if await add_unless_taken(session, account):
        return account
    query = select(Account).where(Account.workspace_id == workspace_id, Account.domain == domain)
    return (await session.exec(query)).one()


def _key(person: PersonIn) -> tuple[str, str]:
    if person.email:
        return "email", normalize_email(person.email)
    assert person.phone, "a person to resolve needs an email or a phone"
    return "phone", person.phone


async def resolve_contacts(
    *,
    session: AsyncSession,
    workspace_id: int,
    people: Sequence[PersonIn],
    source: str,
    created: list[Contact] | None = None,
) -> list[Contact]:
    """The one contact behind each person's email or phone, created if new, in a few queries.

    Details seen (name, title, phone) are recorded; a new title is kept as a change.
    Contacts created here are appended to ``created`` when it is given.
    """
    people = [replace(p, phone=normalize_phone(p.phone)) if p.phone else p for p in people]
    emails = {normalize_email(p.email) for p in people if p.email}
    phones = {p.phone for p in people if p.phone}
    known = {
        ("email", v): c
        for v, c in (await _known_identities(session, workspace_id, "email", emails)).items()
    } | {
        ("phone", v): c
        for v, c in (await _known_identities(session, workspace_id, "phone", phones)).items()
    }
    loaded = await session.exec(_CONTACTS, params={"ids": list(set(known.values()))})
    by_id = {c.id: c for c in loaded.all()}
    new_domains = {
        domain: p.company
        for p in people
        if _key(p) not in known and p.email and (domain := company_domain(normalize_email(p.email)))
    }
    accounts = await _accounts_for(session, workspace_id, new_domains)
    fresh: dict[tuple[str, str], dict[str, Any]] = {}
    for person in people:
        key = _key(person)
        if key in known or key in fresh:
            continue
        account = accounts.get(company_domain(key[1]) or "") if key[0] == "email" else None
        name = cut(person.name, 200) or (key[1].partition("@")[0] if key[0] == "email" else "")
        fresh[key] = _new_contact_row(workspace_id, account, name, source)
    new_ids = await insert_rows(session, Contact, list(fresh.values()))
    await insert_rows(session, ContactIdentity, [
        {"workspace_id": workspace_id, "contact_id": contact_id, "kind": kind, "value": value,
         "created_at": utcnow()}
        for (kind, value), contact_id in zip(fresh, new_ids, strict=True)
    ])  # fmt: skip
    made = (await session.exec(_CONTACTS, params={"ids": new_ids})).all() if new_ids else []
    by_id |= {c.id: c for c in made}
    known |= dict(zip(fresh, new_ids, strict=True))
    if created is not None:
        created.extend(by_id[contact_id] for contact_id in new_ids)
    contacts = [by_id[known[_key(person)]] for person in people]
    for person, contact in zip(people, contacts, strict=True):
        _record_details(session, contact, person, known, source)
    await session.flush()
    return contacts


def _new_contact_row(
    workspace_id: int, account: Account | None, name: str, source: str
) -> dict[str, Any]:
    """A new contact as a plain row (thousands at a time cost little without ORM objects)."""
    return {
        "workspace_id": workspace_id, "account_id": account.id if account else None,
        "owner_id": account.owner_id if account else None, "name": name, "title": None,
        "lead_source": source, "merged_into_id": None, "score": None, "score_band": None,
        "scored_at": None, "last_touch_at": None, "created_at": utcnow(), "updated_at": None,
    }  # fmt: skip


def _record_details(
    session: AsyncSession,
    contact: Contact,
    person: PersonIn,
    known: dict[tuple[str, str], int],
    source: str,
) -> None:
    assert contact.id is not None
    if person.email and person.phone and ("phone", person.phone) not in known:
        known["phone", person.phone] = contact.id
        session.add(
            ContactIdentity(
                workspace_id=contact.workspace_id, contact_id=contact.id, kind="phone",
                value=person.phone,
            )
        )  # fmt: skip
    placeholder = normalize_email(person.email).partition("@")[0] if person.email else ""
    if person.name and contact.name in ("", placeholder):
        contact.name = cut(person.name, 200) or ""
    _note_change(session, contact, "title", cut(person.title, 200), source)
    session.add(contact)


async def resolve_contact(
    *, session: AsyncSession, workspace_id: int, person: PersonIn, source: str
) -> Contact:
    """The one contact behind an email or phone (see :func:`resolve_contacts`)."""
    (contact,) = await resolve_contacts(
        session=session, workspace_id=workspace_id, people=[person], source=source
    )
    return contact
