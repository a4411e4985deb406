"""``/contacts``: list, read, create, update, and the unified profile.

Every read of a contact is personal data and goes to the audit trail; so does every write,
with the fields before and after.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import col, select

from bot.api.framework import (
    ApiError,
    Call,
    Operation,
    Reply,
    audit_read,
    check_hygiene,
    exists,
    not_found,
    page_of,
    record_of,
    within_reach,
)
from bot.api.schemas import ContactCreate, ContactQuery, ContactRead, ContactUpdate, Page
from bot.flows import deduplicate
from handlers.calls import e164
from models.account import Account
from models.contact import Contact, ContactChange, ContactIdentity
from models.services.audit import record_audit
from models.services.identity import find_contact, normalize_email, resolve_contact
from models.services.inputs import PersonIn
from models.services.profile import like_pattern, load_profile
from models.services.profile_types import Profile
from models.services.scoring import rescore_contact
from models.workspace import User

EDITABLE = ("name", "title", "account_id", "owner_id", "lead_source")


async def contact_reads(call: Call, contacts: list[Contact]) -> list[ContactRead]:
    """The API shape of contacts, their emails and phones loaded in one query."""
    ids = [c.id for c in contacts]
    keys: dict[int, dict[str, list[str]]] = {}
    if ids:
        query = (
            select(ContactIdentity)
            .where(col(ContactIdentity.contact_id).in_(ids))
            .order_by(col(ContactIdentity.id))
        )
        for identity in (await call.session.exec(query)).all():
            keys.setdefault(identity.contact_id, {}).setdefault(identity.kind, []).append(
                identity.value
            )
    return [
        ContactRead.model_validate(
            c.model_dump()
            | {"emails": keys.get(c.id or 0, {}).get("email", [])}
            | {"phones": keys.get(c.id or 0, {}).get("phone", [])}
        )
        for c in contacts
    ]


async def list_contacts(call: Call) -> Page[ContactRead]:
    """Contacts in id order, filtered (merged duplicates left out)."""
    query: ContactQuery = call.query
    where: list[ColumnElement[bool]] = [
        col(Contact.workspace_id) == call.workspace_id,
        col(Contact.merged_into_id).is_(None),
    ]
    if query.owner is not None:
        where.append(col(Contact.owner_id) == query.owner)
    if query.account_id is not None:
        where.append(col(Contact.account_id) == query.account_id)
    if query.band is not None:
        where.append(col(Contact.score_band) == query.band)
    if query.q:
        pattern = like_pattern(query.q.casefold())
        by_email = select(ContactIdentity.contact_id).where(
            ContactIdentity.kind == "email", col(ContactIdentity.value).like(pattern, escape="\\")
        )
        where.append(
            or_(
                func.lower(col(Contact.name)).like(pattern, escape="\\"),
                col(Contact.id).in_(by_email),
            )
        )
    if query.updated_since is not None:
        since = query.updated_since
        where.append(
            or_(
                func.coalesce(col(Contact.updated_at), col(Contact.created_at)) >= since,
                col(Contact.scored_at) >= since,
            )
        )
    rows, next_path = await page_of(call, select(Contact), Contact.id, where)
    await audit_read(call, "contact", [c.id for c in rows])
    return Page[ContactRead](data=await contact_reads(call, rows), next=next_path)


async def get_contact(call: Call) -> ContactRead:
    """One contact."""
    contact = await record_of(call, Contact, "contact")
    await audit_read(call, "contact", [contact.id], contact.id)
    return (await contact_reads(call, [contact]))[0]


async def _check_links(call: Call, fields: dict[str, Any]) -> None:
    """Refuse an account or owner that is not in this workspace."""
    for field, table, kind in (("account_id", Account, "account"), ("owner_id", User, "user")):
        value = fields.get(field)
        if value is not None and not await exists(call.session, table, value, call.workspace_id):
            raise ApiError(400, "invalid_body", f"{field}: no such {kind}", [{"field": field}])


async def create_contact(call: Call) -> ContactRead | Reply:
    """A new contact (201), or the one that already has this email or phone, or that the new
    one was merged into as a strong duplicate (200)."""
    body: ContactCreate = call.body
    phone = e164(body.phone, call.runtime.config.crm.default_region) if body.phone else None
    if body.phone and phone is None:
        raise ApiError(400, "invalid_body", "phone: not a valid phone number", [{"field": "phone"}])
    person = PersonIn(
        email=normalize_email(body.email) if body.email else None, phone=phone, name=body.name or ""
    )
    known = await find_contact(session=call.session, workspace_id=call.workspace_id, person=person)
    if known is not None:
        await within_reach(call, known, "contact")
        return Reply(200, (await contact_reads(call, [known]))[0])
    await _check_links(call, body.model_dump())
    contact = await resolve_contact(
        session=call.session, workspace_id=call.workspace_id, person=person, source="api"
    )
    _apply(contact, body.model_dump(include=set(EDITABLE), exclude_none=True))
    await call.session.flush()
    await rescore_contact(
        session=call.session, scorer=call.runtime.scorer, contact=contact, at=call.runtime.clock()
    )
    await record_audit(
        session=call.session, workspace_id=call.workspace_id, actor=call.actor,
        action="contact.created", target_type="contact", target_id=contact.id,
        after=body.model_dump(exclude_none=True),
    )  # fmt: skip
    survivor, paired = await deduplicate(call.session, call.runtime, contact, [contact])
    await within_reach(call, survivor, "contact")
    await check_hygiene(call, contact_ids=[contact.id, *paired])
    return Reply(201 if survivor is contact else 200, (await contact_reads(call, [survivor]))[0])


def _apply(contact: Contact, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        setattr(contact, field, value)


async def update_contact(call: Call) -> ContactRead:
    """Change the fields sent; a new title is kept as a change (it is a scoring signal)."""
    body: ContactUpdate = call.body
    contact = await record_of(call, Contact, "contact")
    sent = body.model_dump(include=body.model_fields_set)
    if "name" in sent and sent["name"] is None:
        raise ApiError(400, "invalid_body", "name: cannot be null", [{"field": "name"}])
    await _check_links(call, sent)
    changes = {k: v for k, v in sent.items() if getattr(contact, k) != v}
    if changes:
        before = {k: getattr(contact, k) for k in changes}
        if "title" in changes and contact.title is not None and contact.id is not None:
            call.session.add(
                ContactChange(
                    workspace_id=contact.workspace_id, contact_id=contact.id, field="title",
                    old_value=contact.title, new_value=changes["title"], source="api",
                )
            )  # fmt: skip
        _apply(contact, changes)
        contact.updated_at = call.runtime.clock()
        call.session.add(contact)
        await call.session.flush()
        await rescore_contact(
            session=call.session, scorer=call.runtime.scorer, contact=contact, at=contact.updated_at
        )
        await record_audit(
            session=call.session, workspace_id=call.workspace_id, actor=call.actor,
            action="contact.updated", target_type="contact", target_id=contact.id,
            before=before, after=changes,
        )  # fmt: skip
        await check_hygiene(call, contact_ids=[contact.id])
    return (await contact_reads(call, [contact]))[0]


async def get_profile(call: Call) -> Profile:
    """The unified profile: identity, company, owner, deals, timeline, score, open issues."""
    profile = await load_profile(
        session=call.session, workspace_id=call.workspace_id, contact_id=call.record_id,
        viewer=call.viewer, scoring=call.runtime.config.crm.scoring,
    )  # fmt: skip
    if profile is None:
        raise not_found("contact")
    await audit_read(call, "contact", [profile.contact_id], profile.contact_id)
    return profile


OPERATIONS = (
    Operation("GET", "/contacts", "listContacts", "List contacts", "contacts:read", "contacts",
              list_contacts, Page[ContactRead], query=ContactQuery),
    Operation("POST", "/contacts", "createContact", "Create a contact (or find it by email, "
              "phone or as a strong duplicate)", "contacts:write", "contacts", create_contact,
              ContactRead, body=ContactCreate, status=201, also=(200,)),
    Operation("GET", "/contacts/{id}", "getContact", "Get a contact", "contacts:read",
              "contacts", get_contact, ContactRead),
    Operation("PATCH", "/contacts/{id}", "updateContact", "Update a contact", "contacts:write",
              "contacts", update_contact, ContactRead, body=ContactUpdate),
    Operation("GET", "/contacts/{id}/profile", "getContactProfile", "Get a contact's unified "
              "profile", "contacts:read", "contacts", get_profile, Profile),
)  # fmt: skip
