"""Identity resolution by exact keys: normalized email and the company behind its domain."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.account import Account
from models.contact import Contact, ContactChange, ContactIdentity
from models.services.inputs import PersonIn
from models.types import utcnow

FREE_MAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "gmail.com",
        "googlemail.com",
        "gmx.com",
        "gmx.de",
        "hotmail.com",
        "icloud.com",
        "live.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "web.de",
        "yahoo.com",
        "yandex.ru",
        "zoho.com",
    }
)


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
    return None if not domain or domain in FREE_MAIL_DOMAINS else domain


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


async def _add_identity(
    session: AsyncSession, workspace_id: int, contact_id: int, kind: str, value: str
) -> None:
    if await _identity(session, workspace_id, kind, value) is None:
        session.add(
            ContactIdentity(
                workspace_id=workspace_id, contact_id=contact_id, kind=kind, value=value
            )
        )


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
        ("phone", person.phone),
        ("visitor", person.visitor_id),
    )
    for kind, value in keys:
        if value:
            identity = await _identity(session, workspace_id, kind, value)
            if identity is not None:
                return await session.get(Contact, identity.contact_id)
    return None


async def resolve_contact(
    *, session: AsyncSession, workspace_id: int, person: PersonIn, source: str
) -> Contact:
    """The one contact behind an email or phone, created if new; details seen are recorded."""
    email = normalize_email(person.email) if person.email else None
    contact = await find_contact(session=session, workspace_id=workspace_id, person=person)
    if contact is None:
        domain = company_domain(email) if email else None
        account = (
            await resolve_account(
                session=session, workspace_id=workspace_id, domain=domain, company=person.company
            )
            if domain
            else None
        )
        contact = Contact(
            workspace_id=workspace_id,
            account_id=account.id if account else None,
            owner_id=account.owner_id if account else None,
            name=person.name or (email or "").partition("@")[0],
            lead_source=source,
        )
        session.add(contact)
        await session.flush()
    assert contact.id is not None
    if email:
        await _add_identity(session, workspace_id, contact.id, "email", email)
    if person.phone:
        await _add_identity(session, workspace_id, contact.id, "phone", person.phone)
    if person.name and contact.name == (email or "").partition("@")[0]:
        contact.name = person.name
    _note_change(session, contact, "title", person.title, source)
    session.add(contact)
    return contact
