"""The hygiene rules themselves: what each one finds wrong with a batch of contacts or deals.

Facts are loaded for a whole batch in a few queries (:func:`load_deal_facts`,
:func:`load_contact_facts`); each rule is then a plain function over them that returns
:class:`Finding` rows. A finding's ``facts`` hold ids, dates and numbers only.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import phonenumbers
from sqlalchemy import bindparam, or_
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.activity import Activity, ActivityParticipant
from models.contact import Contact, ContactIdentity
from models.db import query_rows, table_of
from models.deal import Deal, DealContact
from models.hygiene import MergeProposal
from models.hygiene_config import (
    AmountOutlierRule,
    CloseDatePastRule,
    ContactDetailsRule,
    DuplicateRule,
    HygieneRule,
    MissingOwnerRule,
    NoActivityRule,
    RequiredFieldsRule,
)
from models.services.identity import normalize_email

MAD_SCALE = 0.6745
_Row = TypeVar("_Row", "DealRow", "ContactRow")
_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\.[a-z]{2,}$"
)
FIELD_LABELS = {
    "contact": "no contact linked",
    "amount": "no amount",
    "close_date": "no expected close date",
    "owner": "no owner",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with one record; (entity, rule, detail) is its identity."""

    entity_type: str
    entity_id: int
    rule: str
    detail: str
    owner_id: int | None
    facts: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AmountRange:
    """The workspace's usual deal amounts: median and MAD of log10(amount), and sample size."""

    center: float
    spread: float
    sample: int

    def z(self, amount: float) -> float:
        """Robust z-score of an amount (0 when the amounts do not vary)."""
        if self.spread == 0:
            return 0.0
        return MAD_SCALE * (math.log10(amount) - self.center) / self.spread

    def bounds(self, threshold: float) -> tuple[float, float]:
        """The amounts at exactly ``threshold`` robust deviations either side."""
        reach = threshold * self.spread / MAD_SCALE
        return 10 ** (self.center - reach), 10 ** (self.center + reach)


@dataclass(frozen=True, slots=True)
class DealRow:
    """The columns of a deal that the rules read (plain rows load far faster than objects)."""

    id: int
    name: str
    stage: str
    amount: float | None
    close_date: date | None
    owner_id: int | None
    outcome: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ContactRow:
    """The columns of a contact that the rules read."""

    id: int
    name: str
    account_id: int | None
    owner_id: int | None
    last_touch_at: datetime | None
    created_at: datetime


@dataclass(slots=True)
class DealFacts:
    """What the deal rules look at for one batch of deals."""

    deals: list[DealRow]
    linked_contacts: dict[int, int]
    last_activity: dict[int, datetime]
    amounts: AmountRange | None
    today: date
    now: datetime


@dataclass(frozen=True, slots=True)
class IdentityRow:
    """One email or phone of a contact, as the rules read it."""

    id: int
    contact_id: int
    kind: str
    value: str


@dataclass(slots=True)
class ContactFacts:
    """What the contact rules look at for one batch of contacts."""

    contacts: list[ContactRow]
    identities: dict[int, list[IdentityRow]]
    proposals: dict[int, set[int]]
    namesakes: dict[int, set[int]]
    default_region: str
    now: datetime


@lru_cache(maxsize=65_536)  # the same numbers and names come back all day
def normalized_name(name: str) -> str:
    """A name compared loosely: no accents, no case, single spaces.

    >>> normalized_name("  José   ÁLVAREZ ")
    'jose alvarez'
    """
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


def valid_email(value: str) -> bool:
    """Whether a stored address looks deliverable (normalized form, a dotted domain).

    >>> valid_email("ana@globex.example"), valid_email("ana@localhost"), valid_email("a b@x.io")
    (True, False, False)
    """
    return bool(_EMAIL.fullmatch(normalize_email(value)))


@lru_cache(maxsize=65_536)  # the same numbers and names come back all day
def valid_phone(value: str, region: str) -> bool:
    """Whether a phone number is a real, dialable number.

    >>> valid_phone("+1 415 555 0100", "US"), valid_phone("+1 123", "US")
    (True, False)
    """
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


async def _plain_rows(
    session: AsyncSession, model: type[SQLModel], row: type[_Row], *where: Any
) -> list[_Row]:
    """The columns named by ``row``'s fields, as ``row`` values (no ORM objects to build)."""
    table = model.__table__  # type: ignore[attr-defined]
    query = sa_select(*(table.c[f.name] for f in fields(row))).where(*where)
    found = await session.exec(query)  # type: ignore[call-overload]
    return [row(*values) for values in found.all()]


async def amount_range(session: AsyncSession, workspace_id: int) -> AmountRange | None:
    """Median and MAD of the workspace's positive deal amounts on a log scale."""
    rows = await session.exec(
        select(Deal.amount).where(Deal.workspace_id == workspace_id, col(Deal.amount) > 0)
    )
    logs = [math.log10(amount) for amount in rows.all() if amount is not None]
    if not logs:
        return None
    center = statistics.median(logs)
    spread = statistics.median(abs(value - center) for value in logs)
    return AmountRange(center=center, spread=spread, sample=len(logs))


async def load_deal_facts(
    session: AsyncSession, workspace_id: int, deal_ids: Sequence[int], now: datetime
) -> DealFacts:
    """Deals, their linked-contact counts and last activity, and the usual amounts."""
    deals = await _plain_rows(
        session, Deal, DealRow, Deal.workspace_id == workspace_id, col(Deal.id).in_(deal_ids)
    )
    counts = await session.exec(
        select(DealContact.deal_id, func.count())
        .where(col(DealContact.deal_id).in_(deal_ids))
        .group_by(col(DealContact.deal_id))
    )
    through_contacts = await session.exec(
        select(DealContact.deal_id, func.max(Activity.occurred_at))
        .join(ActivityParticipant, col(ActivityParticipant.contact_id) == DealContact.contact_id)
        .join(Activity, col(Activity.id) == ActivityParticipant.activity_id)
        .where(col(DealContact.deal_id).in_(deal_ids), col(Activity.occurred_at) <= now)
        .group_by(col(DealContact.deal_id))
    )
    on_deal = await session.exec(
        select(Activity.deal_id, func.max(Activity.occurred_at))
        .where(col(Activity.deal_id).in_(deal_ids), col(Activity.occurred_at) <= now)
        .group_by(col(Activity.deal_id))
    )
    last: dict[int, datetime] = {}
    for deal_id, at in [*through_contacts.all(), *on_deal.all()]:
        if deal_id is not None and at is not None and (deal_id not in last or at > last[deal_id]):
            last[deal_id] = at
    return DealFacts(
        deals=deals,
        linked_contacts={deal_id: int(n) for deal_id, n in counts.all()},
        last_activity=last,
        amounts=await amount_range(session, workspace_id),
        today=now.date(),
        now=now,
    )


_CONTACT, _IDENTITY, _PROPOSAL = (
    table_of(Contact),
    table_of(ContactIdentity),
    table_of(MergeProposal),
)
# Built once (capture runs these on every event; building a statement costs more than running it).
_CONTACT_ROWS = select(*(_CONTACT.c[f.name] for f in fields(ContactRow))).where(
    _CONTACT.c.workspace_id == bindparam("workspace_id"),
    _CONTACT.c.id.in_(bindparam("ids", expanding=True)),
    _CONTACT.c.merged_into_id.is_(None),
)
_IDENTITIES = (
    select(*(_IDENTITY.c[f.name] for f in fields(IdentityRow)))
    .where(_IDENTITY.c.contact_id.in_(bindparam("ids", expanding=True)))
    .where(_IDENTITY.c.kind.in_(("email", "phone")))
    .order_by(_IDENTITY.c.id)
)
_PROPOSALS = select(_PROPOSAL.c.contact_a_id, _PROPOSAL.c.contact_b_id, _PROPOSAL.c.state).where(
    _PROPOSAL.c.workspace_id == bindparam("workspace_id"),
    _PROPOSAL.c.state.in_(("open", "rejected")),
    or_(
        _PROPOSAL.c.contact_a_id.in_(bindparam("ids", expanding=True)),
        _PROPOSAL.c.contact_b_id.in_(bindparam("ids", expanding=True)),
    ),
)
_ACCOUNT_PEOPLE = select(_CONTACT.c.id, _CONTACT.c.account_id, _CONTACT.c.name).where(
    _CONTACT.c.workspace_id == bindparam("workspace_id"),
    _CONTACT.c.account_id.in_(bindparam("accounts", expanding=True)),
    _CONTACT.c.merged_into_id.is_(None),
)


async def load_contact_facts(
    session: AsyncSession,
    workspace_id: int,
    contact_ids: Sequence[int],
    now: datetime,
    default_region: str,
) -> ContactFacts:
    """Contacts, their email and phone identities, open merge proposals and namesakes."""
    ids = list(contact_ids)
    found = await query_rows(session, _CONTACT_ROWS, workspace_id=workspace_id, ids=ids)
    contacts = [ContactRow(*row) for row in found]
    identities: dict[int, list[IdentityRow]] = {}
    for row in await query_rows(session, _IDENTITIES, ids=ids):
        identity = IdentityRow(*row)
        identities.setdefault(identity.contact_id, []).append(identity)
    proposals = await _proposals(session, workspace_id, ids)
    return ContactFacts(
        contacts=contacts,
        identities=identities,
        proposals=proposals["open"],
        namesakes=await _namesakes(session, workspace_id, contacts, apart=proposals["rejected"]),
        default_region=default_region,
        now=now,
    )


async def _proposals(
    session: AsyncSession, workspace_id: int, contact_ids: list[int]
) -> dict[str, dict[int, set[int]]]:
    """Each contact's partners in open proposals (``open``), and in pairs told apart by a
    person, "Not the same" or an undone merge (``rejected``)."""
    rows = await query_rows(session, _PROPOSALS, workspace_id=workspace_id, ids=contact_ids)
    pairs: dict[str, dict[int, set[int]]] = {"open": {}, "rejected": {}}
    for a, b, state in rows:
        pairs[state].setdefault(a, set()).add(b)
        pairs[state].setdefault(b, set()).add(a)
    return pairs


async def _namesakes(
    session: AsyncSession,
    workspace_id: int,
    contacts: Sequence[ContactRow],
    apart: dict[int, set[int]],
) -> dict[int, set[int]]:
    """Other live contacts with the same normalized name at the same account, but for those
    a person said are someone else (``apart``)."""
    account_ids = list({c.account_id for c in contacts if c.account_id is not None})
    if not account_ids:
        return {}
    rows = await query_rows(
        session, _ACCOUNT_PEOPLE, workspace_id=workspace_id, accounts=account_ids
    )
    groups: dict[tuple[int | None, str], set[int]] = {}
    for contact_id, account_id, name in rows:
        key = normalized_name(name)
        if key and contact_id is not None:
            groups.setdefault((account_id, key), set()).add(contact_id)
    found = {}
    for contact in contacts:
        same = groups.get((contact.account_id, normalized_name(contact.name)), set())
        others = same - {contact.id} - apart.get(contact.id, set())
        if others:
            found[contact.id] = others
    return found


def _open_deals(facts: DealFacts) -> Iterable[tuple[int, DealRow]]:
    for deal in facts.deals:
        if deal.outcome == "open":
            yield deal.id, deal


def _finding(
    entity_type: str, entity_id: int, rule: str, owner: int | None, detail: str = "", **facts: Any
) -> Finding:
    return Finding(entity_type, entity_id, rule, detail, owner, facts)


def required_fields(rule: RequiredFieldsRule, facts: DealFacts) -> list[Finding]:
    """Open deals in a listed stage that lack a field that stage needs."""
    stages = {name.strip().casefold(): fields for name, fields in rule.stages.items()}
    found = []
    for deal_id, deal in _open_deals(facts):
        for name in stages.get(deal.stage.strip().casefold(), ()):
            missing = {
                "contact": facts.linked_contacts.get(deal_id, 0) == 0,
                "amount": deal.amount is None,
                "close_date": deal.close_date is None,
                "owner": deal.owner_id is None,
            }[name]
            if missing:
                found.append(
                    _finding("deal", deal_id, rule.rule, deal.owner_id, name, stage=deal.stage)
                )
    return found


def close_date_past(rule: CloseDatePastRule, facts: DealFacts) -> list[Finding]:
    """Open deals whose expected close date (plus grace) is before today."""
    limit = facts.today - timedelta(days=rule.grace_days)
    return [
        _finding("deal", deal_id, rule.rule, deal.owner_id, close_date=deal.close_date.isoformat())
        for deal_id, deal in _open_deals(facts)
        if deal.close_date is not None and deal.close_date < limit
    ]


def _untouched(
    entity_type: str,
    entity_id: int,
    owner: int | None,
    rule: NoActivityRule,
    last: datetime,
    now: datetime,
) -> list[Finding]:
    """The finding for a record last touched at ``last``, if that is ``rule.days`` or more ago."""
    if now - last < timedelta(days=rule.days):
        return []
    return [
        _finding(
            entity_type, entity_id, rule.rule, owner, days=rule.days, last=last.date().isoformat()
        )
    ]


def deal_inactivity(rule: NoActivityRule, facts: DealFacts) -> list[Finding]:
    """Open deals with nothing on them or their contacts for ``days`` (counted from creation)."""
    if "deal" not in rule.applies_to:
        return []
    found = []
    for deal_id, deal in _open_deals(facts):
        last = max(facts.last_activity.get(deal_id, deal.created_at), deal.created_at)
        found += _untouched("deal", deal_id, deal.owner_id, rule, last, facts.now)
    return found


def deal_owner(rule: MissingOwnerRule, facts: DealFacts) -> list[Finding]:
    """Open deals nobody owns."""
    if "deal" not in rule.applies_to:
        return []
    return [
        _finding("deal", deal_id, rule.rule, None)
        for deal_id, deal in _open_deals(facts)
        if deal.owner_id is None
    ]


def amount_outlier(rule: AmountOutlierRule, facts: DealFacts) -> list[Finding]:
    """Open deals whose amount is not positive, or far from the usual range."""
    usual = facts.amounts
    found = []
    for deal_id, deal in _open_deals(facts):
        if deal.amount is None:
            continue
        if deal.amount <= 0:
            found.append(
                _finding("deal", deal_id, rule.rule, deal.owner_id, "amount", amount=deal.amount)
            )
            continue
        if usual is None or usual.sample < rule.min_sample:
            continue
        z = usual.z(deal.amount)
        if abs(z) > rule.threshold:
            low, high = usual.bounds(rule.threshold)
            found.append(
                _finding(
                    "deal",
                    deal_id,
                    rule.rule,
                    deal.owner_id,
                    "amount",
                    amount=deal.amount,
                    low=round(low, 2),
                    high=round(high, 2),
                )
            )
    return found


def contact_inactivity(rule: NoActivityRule, facts: ContactFacts) -> list[Finding]:
    """Owned contacts with no activity for ``days`` (counted from when they were added)."""
    if "contact" not in rule.applies_to:
        return []
    found = []
    for contact in facts.contacts:
        assert contact.id is not None
        if contact.owner_id is None:
            continue
        last = max(contact.last_touch_at or contact.created_at, contact.created_at)
        found += _untouched("contact", contact.id, contact.owner_id, rule, last, facts.now)
    return found


def contact_details(rule: ContactDetailsRule, facts: ContactFacts) -> list[Finding]:
    """Required email or phone missing; any stored one that is not valid."""
    found = []
    for contact in facts.contacts:
        assert contact.id is not None
        owned = facts.identities.get(contact.id, [])
        for kind in rule.required:
            if not any(identity.kind == kind for identity in owned):
                found.append(
                    _finding("contact", contact.id, rule.rule, contact.owner_id, f"missing_{kind}")
                )
        for identity in owned:
            ok = (
                valid_email(identity.value)
                if identity.kind == "email"
                else valid_phone(identity.value, facts.default_region)
            )
            if not ok:
                found.append(
                    _finding(
                        "contact",
                        contact.id,
                        rule.rule,
                        contact.owner_id,
                        f"invalid_{identity.kind}:{identity.id}",
                        identity_id=identity.id,
                    )
                )
    return found


def duplicates(rule: DuplicateRule, facts: ContactFacts) -> list[Finding]:
    """Contacts in an open merge proposal, or sharing a name at their account.

    A pair is one problem: it is raised on the newer contact of the two.
    """
    found = []
    for contact in facts.contacts:
        assert contact.id is not None
        proposed = facts.proposals.get(contact.id, set())
        same_name = facts.namesakes.get(contact.id, set()) if rule.same_name_at_account else set()
        for other in sorted(o for o in proposed | same_name if o < contact.id):
            why = "merge_proposal" if other in proposed else "same_name_at_account"
            found.append(
                _finding(
                    "contact",
                    contact.id,
                    rule.rule,
                    contact.owner_id,
                    f"contact:{other}",
                    other_id=other,
                    why=why,
                )
            )
    return found


def contact_owner(rule: MissingOwnerRule, facts: ContactFacts) -> list[Finding]:
    """Contacts nobody owns."""
    if "contact" not in rule.applies_to:
        return []
    return [
        _finding("contact", contact.id, rule.rule, None)
        for contact in facts.contacts
        if contact.id is not None and contact.owner_id is None
    ]


DEAL_RULES: dict[str, Callable[[Any, DealFacts], list[Finding]]] = {
    "required_fields": required_fields,
    "close_date_past": close_date_past,
    "no_activity": deal_inactivity,
    "missing_owner": deal_owner,
    "amount_outlier": amount_outlier,
}
CONTACT_RULES: dict[str, Callable[[Any, ContactFacts], list[Finding]]] = {
    "no_activity": contact_inactivity,
    "contact_details": contact_details,
    "duplicate": duplicates,
    "missing_owner": contact_owner,
}


def evaluate_deals(rules: Sequence[HygieneRule], facts: DealFacts) -> list[Finding]:
    """Every finding of the enabled rules on this batch of deals."""
    return [
        f for rule in rules if rule.rule in DEAL_RULES for f in DEAL_RULES[rule.rule](rule, facts)
    ]


def evaluate_contacts(rules: Sequence[HygieneRule], facts: ContactFacts) -> list[Finding]:
    """Every finding of the enabled rules on this batch of contacts."""
    return [
        f
        for rule in rules
        if rule.rule in CONTACT_RULES
        for f in CONTACT_RULES[rule.rule](rule, facts)
    ]


def describe(rule: str, detail: str, facts: dict[str, Any]) -> str:
    """The problem in plain words, without naming anyone (the record's name goes beside it)."""
    kind = detail.partition(":")[0]
    texts: dict[str, Callable[[], str]] = {
        "required_fields": lambda: f"is in {facts.get('stage')} with {FIELD_LABELS[detail]}",
        "close_date_past": lambda: (
            f"was expected to close on {facts.get('close_date')}, which has passed"
        ),
        "no_activity": lambda: (
            f"has had no activity for {facts.get('days')}+ days (last on {facts.get('last')})"
        ),
        "missing_owner": lambda: "has no owner",
        "duplicate": lambda: (
            "may be the same person as another contact"
            + (
                " (a merge proposal is open)"
                if facts.get("why") == "merge_proposal"
                else " (same name at the same company)"
            )
        ),
        "amount_outlier": lambda: _amount_text(facts),
        "contact_details": lambda: {
            "missing_email": "has no email address",
            "missing_phone": "has no phone number",
            "invalid_email": "has an email address that is not valid",
            "invalid_phone": "has a phone number that is not valid",
        }[kind],
    }
    return texts[rule]()


def _amount_text(facts: dict[str, Any]) -> str:
    amount = float(facts.get("amount", 0))
    if amount <= 0:
        return f"has an amount of {amount:,.0f}, which is not a positive amount"
    return (
        f"has an amount of {amount:,.0f}, far outside the usual "
        f"{float(facts['low']):,.0f}–{float(facts['high']):,.0f}"
    )
