"""One-click fixes for hygiene issues: what each rule asks for, checked, saved and re-checked.

:func:`fix_kind` says which inputs an issue needs; :func:`apply_fix` checks them against
the data (an address already used by another contact, an owner not on the team), saves,
and re-checks the record, which closes the issue. A repeated submission saves nothing new.
Each saved change is audited: ids and non-personal values before and after; an email or
phone is recorded as "changed", never its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import phonenumbers
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import Activity, ActivityParticipant
from models.config import CrmConfig
from models.contact import Contact, ContactIdentity
from models.deal import Deal, DealContact
from models.hygiene import HygieneIssue
from models.services.audit import record_audit
from models.services.hygiene import close_issue, recheck, tell_closed
from models.services.hygiene_rules import valid_email, valid_phone
from models.services.identity import normalize_email, resolve_contacts
from models.services.inputs import PersonIn
from models.services.outbound import emit_issue_events
from models.services.text import cut
from models.workspace import User

FixKind = Literal["contact", "amount", "close_date", "owner", "note", "email", "phone", "dismiss"]
CANDIDATES = 100


@dataclass(frozen=True, slots=True)
class FixIn:
    """What the person fixing typed or picked; only the fields of the issue's kind are used."""

    contact_id: int | None = None
    contact_email: str | None = None
    amount: float | None = None
    amount_is_right: bool = False
    close_date: date | None = None
    owner_slack_id: str | None = None
    note: str | None = None
    email: str | None = None
    phone: str | None = None
    dismiss: bool = False


@dataclass(slots=True)
class _Edit:
    """What a fix saved, for its audit row: ids and non-personal values only."""

    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def change(self, name: str, old: Any, new: Any) -> None:
        """Note a field's change (nothing if the value is the same)."""
        if old != new:
            self.before[name], self.after[name] = old, new


def fix_kind(issue: HygieneIssue) -> FixKind:
    """The input an issue asks for."""
    kind = issue.detail.partition(":")[0]
    if issue.rule == "required_fields":
        return {"contact": "contact", "amount": "amount", "close_date": "close_date"}.get(
            issue.detail, "owner"
        )  # type: ignore[return-value]
    by_rule: dict[str, FixKind] = {
        "close_date_past": "close_date",
        "no_activity": "note",
        "missing_owner": "owner",
        "amount_outlier": "amount",
        "duplicate": "dismiss",
    }
    if issue.rule == "contact_details":
        return "email" if kind.endswith("email") else "phone"
    return by_rule[issue.rule]


async def contact_choices(session: AsyncSession, issue: HygieneIssue) -> list[tuple[int, str]]:
    """Contacts to offer for linking to a deal: its account's, else its owner's, newest first."""
    deal = await session.get(Deal, issue.entity_id)
    if deal is None:
        return []
    base = select(Contact.id, Contact.name).where(
        Contact.workspace_id == issue.workspace_id, col(Contact.merged_into_id).is_(None)
    )
    newest = (col(Contact.last_touch_at).desc(), col(Contact.id).desc())
    for narrowing in (
        Contact.account_id == deal.account_id if deal.account_id else None,
        Contact.owner_id == deal.owner_id if deal.owner_id else None,
    ):
        if narrowing is None:
            continue
        rows = await session.exec(base.where(narrowing).order_by(*newest).limit(CANDIDATES))
        found = [(int(i), name or f"Contact {i}") for i, name in rows.all() if i is not None]
        if found:
            return found
    return []


async def _identity_owner(
    session: AsyncSession, workspace_id: int, kind: str, value: str
) -> int | None:
    row = await session.exec(
        select(ContactIdentity.contact_id).where(
            ContactIdentity.workspace_id == workspace_id,
            ContactIdentity.kind == kind,
            ContactIdentity.value == value,
        )
    )
    return row.first()


def e164(phone: str, region: str) -> str:
    """A valid phone number in E.164 form (check it with ``valid_phone`` first)."""
    number = phonenumbers.parse(phone, region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


async def _set_identity(
    session: AsyncSession, issue: HygieneIssue, kind: str, value: str, edit: _Edit
) -> str | None:
    """Give the contact this email or phone, replacing the invalid one the issue names."""
    holder = await _identity_owner(session, issue.workspace_id, kind, value)
    if holder is not None and holder != issue.entity_id:
        return f"That {kind} belongs to another contact; merge the two instead."
    replaced = issue.facts.get("identity_id")
    if replaced is not None:
        old = await session.get(ContactIdentity, int(replaced))
        if old is not None and old.contact_id == issue.entity_id:
            await session.delete(old)
            await session.flush()
            edit.before["removed_identity_id"], edit.after[kind] = old.id, "changed"
    if holder is None:
        session.add(ContactIdentity(workspace_id=issue.workspace_id, contact_id=issue.entity_id,
                                    kind=kind, value=value))  # fmt: skip
        edit.after[kind] = "changed"
    return None


async def _link_contact(
    session: AsyncSession, issue: HygieneIssue, fix: FixIn, edit: _Edit
) -> str | None:
    deal = await session.get(Deal, issue.entity_id)
    assert deal is not None
    contact_id = fix.contact_id
    if contact_id is None and fix.contact_email:
        if not valid_email(fix.contact_email):
            return "That does not look like an email address."
        created: list[Contact] = []
        (contact,) = await resolve_contacts(
            session=session, workspace_id=issue.workspace_id,
            people=[PersonIn(email=fix.contact_email)], source="slack", created=created,
        )  # fmt: skip
        if created:
            edit.after["contact_created"] = True
        contact.account_id = contact.account_id or deal.account_id
        contact.owner_id = contact.owner_id or deal.owner_id
        contact_id = contact.id
    found = await session.get(Contact, contact_id) if contact_id else None
    if found is None or found.workspace_id != issue.workspace_id:
        return "Pick a contact, or give the email of a new one."
    linked = await session.exec(
        select(DealContact.id).where(
            DealContact.deal_id == deal.id, DealContact.contact_id == found.id
        )
    )
    if linked.first() is None:
        assert deal.id is not None
        assert found.id is not None
        session.add(
            DealContact(workspace_id=issue.workspace_id, deal_id=deal.id, contact_id=found.id)
        )
        edit.after["linked_contact_id"] = found.id
    return None


async def _log_note(
    session: AsyncSession, issue: HygieneIssue, note: str, user: User, ref: str, now: datetime
) -> int | None:
    """Record what happened as a note on the record's timeline (once per submission);
    returns the new note's id, None if this submission's note is there already."""
    external_id = f"fix:{issue.id}:{ref}"[:500]
    exists = await session.exec(
        select(Activity.id).where(
            Activity.workspace_id == issue.workspace_id,
            Activity.source == "slack",
            Activity.external_id == external_id,
        )
    )
    if exists.first() is not None:
        return None
    if issue.entity_type == "contact":
        deal_id, contacts = None, [issue.entity_id]
    else:
        deal_id = issue.entity_id
        linked = await session.exec(
            select(DealContact.contact_id).where(DealContact.deal_id == issue.entity_id)
        )
        contacts = list(linked.all())
    activity = Activity(
        workspace_id=issue.workspace_id, kind="note", source="slack", external_id=external_id,
        contact_id=contacts[0] if contacts else None, deal_id=deal_id, user_id=user.id,
        occurred_at=now, direction="internal", subject="Note", body=cut(note, 4000),
    )  # fmt: skip
    session.add(activity)
    await session.flush()
    assert activity.id is not None
    for contact_id in contacts:
        session.add(
            ActivityParticipant(
                workspace_id=issue.workspace_id, activity_id=activity.id, contact_id=contact_id
            )
        )
        contact = await session.get(Contact, contact_id)
        if contact is not None and (contact.last_touch_at is None or contact.last_touch_at < now):
            contact.last_touch_at = now
            session.add(contact)
    return activity.id


async def _record(session: AsyncSession, issue: HygieneIssue) -> Contact | Deal | None:
    if issue.entity_type == "contact":
        return await session.get(Contact, issue.entity_id)
    return await session.get(Deal, issue.entity_id)


async def apply_fix(
    *,
    session: AsyncSession,
    issue: HygieneIssue,
    fix: FixIn,
    user: User,
    ref: str,
    config: CrmConfig,
    now: datetime,
) -> str | None:
    """Save the fix and re-check the record; returns a message for the person, or None.

    ``ref`` identifies the submission (Slack's view id), so a retry logs no second note.
    """
    actor = f"slack:{user.slack_user_id}"
    record = await _record(session, issue)
    if record is None:
        return "That record no longer exists."
    kind = fix_kind(issue)
    edit = _Edit()
    error = await _save(session, issue, record, kind, fix, user, ref, config, now, edit)
    if error is not None:
        return error
    await _audit_edit(session, issue, actor, edit)
    if issue.resolution == "dismissed":
        await tell_closed(session, [issue])
        return None
    record.updated_at = now
    session.add(record)
    await session.flush()
    assert record.id is not None
    deal = isinstance(record, Deal)
    await recheck(
        session=session, workspace_id=issue.workspace_id, config=config, now=now, actor=actor,
        contact_ids=await _contacts_of(session, record.id) if deal else [record.id],
        deal_ids=[record.id] if deal else [],
    )  # fmt: skip
    return None


async def _audit_edit(session: AsyncSession, issue: HygieneIssue, actor: str, edit: _Edit) -> None:
    """The audit row of a fix that saved something (a repeated submission saves nothing)."""
    if not edit.after:
        return
    await record_audit(
        session=session, workspace_id=issue.workspace_id, actor=actor,
        action=f"{issue.entity_type}.fixed", target_type=issue.entity_type,
        target_id=issue.entity_id, before=edit.before, after={"issue_id": issue.id, **edit.after},
    )  # fmt: skip


async def _contacts_of(session: AsyncSession, deal_id: int) -> list[int]:
    """A deal's contacts: a fix may have just linked one, created from an email."""
    query = select(DealContact.contact_id).where(DealContact.deal_id == deal_id)
    return list((await session.exec(query)).all())


async def _save(
    session: AsyncSession, issue: HygieneIssue, record: Contact | Deal, kind: FixKind,
    fix: FixIn, user: User, ref: str, config: CrmConfig, now: datetime, edit: _Edit,
) -> str | None:  # fmt: skip
    """Write what the kind of fix asks for, noting it in ``edit``; an error message when the
    input cannot be used."""
    actor = f"slack:{user.slack_user_id}"
    if kind == "dismiss" or (kind == "amount" and fix.amount_is_right):
        if kind == "dismiss" and not fix.dismiss:
            return "Tick the box if they are different people, or merge them instead."
        close_issue(issue, resolution="dismissed", actor=actor, now=now)
        session.add(issue)
        await emit_issue_events(session, [issue], opened=False)
        return None
    if kind == "contact":
        return await _link_contact(session, issue, fix, edit)
    if kind == "note":
        if not fix.note or not fix.note.strip():
            return "Say briefly what happened."
        note_id = await _log_note(session, issue, fix.note.strip(), user, ref, now)
        if note_id is not None:
            edit.after["note_activity_id"] = note_id
        return None
    if kind in ("email", "phone"):
        return await _save_detail(session, issue, kind, fix, config, edit)
    assert isinstance(record, Deal) or kind == "owner"
    return await _save_field(session, record, kind, fix, now, edit)


async def _save_detail(
    session: AsyncSession, issue: HygieneIssue, kind: str, fix: FixIn, config: CrmConfig,
    edit: _Edit,
) -> str | None:  # fmt: skip
    if kind == "email":
        if not fix.email or not valid_email(fix.email):
            return "That does not look like an email address."
        return await _set_identity(session, issue, "email", normalize_email(fix.email), edit)
    if not fix.phone or not valid_phone(fix.phone, config.default_region):
        return (
            "That is not a valid phone number (use the international form, like +1 415 555 0100)."
        )
    phone = e164(fix.phone, config.default_region)
    return await _set_identity(session, issue, "phone", phone, edit)


async def _save_field(
    session: AsyncSession, record: Contact | Deal, kind: FixKind, fix: FixIn, now: datetime,
    edit: _Edit,
) -> str | None:  # fmt: skip
    if kind == "owner":
        owner = (
            await session.exec(
                select(User).where(
                    User.workspace_id == record.workspace_id,
                    User.slack_user_id == (fix.owner_slack_id or ""),
                )
            )
        ).first()
        if owner is None:
            return "Pick someone on the sales team (app.yaml, crm.team)."
        edit.change("owner_id", record.owner_id, owner.id)
        record.owner_id = owner.id
        return None
    assert isinstance(record, Deal)
    if kind == "amount":
        if fix.amount is None or fix.amount <= 0:
            return "Give a positive amount."
        edit.change("amount", record.amount, fix.amount)
        record.amount = fix.amount
        return None
    if fix.close_date is None or fix.close_date < now.date():
        return "Pick today or a later date."
    edit.change("close_date", _day(record.close_date), fix.close_date.isoformat())
    record.close_date = fix.close_date
    return None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None
