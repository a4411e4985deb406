"""Deterministic demo data: a small B2B sales company with a hidden ground truth."""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr
from types import MappingProxyType
from typing import Literal

INTERNAL_DOMAIN = "acme-analytics.example"
_SITE = f"https://{INTERNAL_DOMAIN}"
_REPS = (
    ("Dana Whitfield", "America/New_York", -5),
    ("Marco Rossi", "America/Chicago", -6),
    ("Priya Natarajan", "America/Los_Angeles", -8),
    ("Siobhán O'Neill", "Europe/London", 0),
)
_ACCOUNTS = (
    ("Globex", "software", 850, "US"),
    ("Initech", "software", 240, "US"),
    ("Northwind Traders", "retail", 3200, "US"),
    ("Fourth Coffee", "retail", 410, "US"),
    ("Contoso Health", "healthcare", 5200, "US"),
    ("Lucerne Clinics", "healthcare", 1300, "UK"),
    ("Woodgrove Bank", "finance", 12000, "US"),
    ("Trey Capital", "finance", 180, "UK"),
    ("Fabrikam", "manufacturing", 2600, "US"),
    ("Tailspin Aero", "manufacturing", 950, "UK"),
    ("Litware", "software", 120, "UK"),
    ("Wingtip Outfitters", "retail", 760, "US"),
    ("Humongous Insurance", "finance", 8400, "US"),
    ("Proseware", "software", 65, "US"),
    ("Coho Medical", "healthcare", 300, "US"),
    ("Alpine Tooling", "manufacturing", 540, "US"),
)
_FIT = {"software": 0.7, "finance": 0.35, "healthcare": 0.0, "retail": -0.2, "manufacturing": -0.45}
_TITLES = (
    ("Chief Revenue Officer", 1.0),
    ("CFO", 0.9),
    ("VP of Sales", 0.8),
    ("VP Operations", 0.7),
    ("Director of Sales Operations", 0.6),
    ("Head of Analytics", 0.6),
    ("RevOps Manager", 0.4),
    ("Sales Manager", 0.35),
    ("Senior Analyst", 0.15),
    ("Business Analyst", 0.1),
    ("Account Coordinator", 0.0),
)
_FIRST = (
    "Zoë",
    "James",
    "Renée",
    "José",
    "Aisha",
    "Tom",
    "François",
    "Mei",
    "Lukas",
    "Grace",
    "Björn",
    "Olivia",
    "Raj",
    "Chloé",
    "Daniel",
    "Hannah",
    "Kenji",
    "Sofia",
    "Liam",
    "Nadia",
)
_LAST = (
    "Ångström",
    "Carter",
    "Núñez",
    "Okafor",
    "Müller",
    "Chen",
    "Patel",
    "Lindqvist",
    "Brooks",
    "Kowalski",
    "Ibáñez",
    "Nguyen",
    "Schmidt",
    "Hughes",
    "Tanaka",
    "Moreau",
)
_AREA = ("212", "312", "415", "617", "206", "512")
_SUFFIX = {"US": ("Inc.", "Corp.", "LLC"), "UK": ("Ltd", "plc")}
_SUBJECTS = (
    "Quick question about {co}'s reporting",
    "Acme Insights for {co}",
    "{co} + Acme Analytics",
    "Pipeline visibility at {co}",
)
_HOOKS = (
    "Teams like yours at {co} use Acme Insights to see which accounts are heating up "
    "before the quarter closes.",
    "We help {ind} companies like {co} cut weekly reporting time in half.",
    "I saw {co} is growing fast and thought our forecasting dashboards might help.",
)
_YES = (
    "Thanks, this looks relevant. Tuesday afternoon works - can you send an invite?",
    "Could you share pricing for roughly {seats} seats? We are reviewing budgets now.",
    "Good timing. Let's set up a demo with my team next week.",
)
_MEH = (
    "Thanks for reaching out. We're heads-down this quarter, but send over some material.",
    "Not sure this is a fit yet. What does onboarding usually look like?",
)
_NO = (
    "Not a priority for us right now. Please check back next year.",
    "We already have a tool for this, thanks. Please remove me from your list.",
)
_REP_ANSWERS = {
    "yes": (
        "Great, invite sent. I'll tailor the demo to {co}.",
        "Pricing overview is here: {site}/pricing. Happy to walk through it live.",
    ),
    "meh": ("Of course - here's a two-minute overview: {site}/product.",),
    "no": ("Understood, thanks for letting me know. I'll check back next quarter.",),
}
_PAGES = (
    "/",
    "/product",
    "/docs",
    "/blog/forecasting-101",
    "/blog/pipeline-hygiene",
    "/case-studies/globex-revops",
    "/case-studies/retail-forecasting",
    "/integrations",
)
_TOPICS = ("intro", "discovery", "demo", "technical deep dive", "pricing review")
_NOTES = (
    "Intro call, wants a demo",
    "Walked through pricing tiers",
    "Discussed rollout timeline",
    "Security questionnaire follow-up",
    "Budget owner joined, positive",
)
_OPEN_STAGES = ("Discovery", "Demo", "Proposal", "Negotiation")

_Who = tuple[str, str, int]  # display name, email, UTC offset in hours


@dataclass(frozen=True, slots=True)
class SampleRep:
    """A sales rep at the selling company."""

    slack_user_id: str
    name: str
    email: str
    tz: str


@dataclass(frozen=True, slots=True)
class SampleAccount:
    """A prospect company and the rep who owns it."""

    name: str
    domain: str
    industry: str
    employees: int
    owner_slack_id: str


@dataclass(frozen=True, slots=True)
class SampleEvent:
    """A meeting, call or web page view tied to one contact."""

    kind: Literal["meeting", "call", "web"]
    source: str
    external_id: str
    contact_email: str
    occurred_at: datetime
    duration_s: int | None = None
    url: str | None = None
    dwell_s: int | None = None
    subject: str | None = None
    direction: Literal["inbound", "outbound"] | None = None


@dataclass(frozen=True, slots=True)
class SampleDeal:
    """A CRM deal; closed ones carry the outcome the model should learn."""

    external_id: str
    name: str
    account_domain: str
    contact_email: str
    owner_slack_id: str
    amount: int
    created_at: datetime
    closed_at: datetime | None
    stage: str
    outcome: Literal["won", "lost", "open"]


@dataclass(frozen=True, slots=True)
class SampleData:
    """Everything the demo imports, plus the hidden per-contact propensity."""

    internal_domain: str
    reps: tuple[SampleRep, ...]
    emails: tuple[bytes, ...]
    events: tuple[SampleEvent, ...]
    deals: tuple[SampleDeal, ...]
    truth: Mapping[str, float]
    accounts: tuple[SampleAccount, ...]


@dataclass(slots=True)
class _Contact:
    """A prospect as the generator sees it, propensity included."""

    who: _Who
    card: str  # signature lines: name, title, company, phone
    account: SampleAccount
    rep: _Who
    p: float
    start: datetime
    end: datetime
    peer: _Who | None = None


@dataclass(slots=True)
class _Mail:
    """One message before serialisation."""

    when: datetime
    seq: int
    mid: str
    sender: _Who
    to: _Who
    subject: str
    body: str
    refs: tuple[str, ...] = ()
    cc: _Who | None = None
    extra: tuple[tuple[str, str], ...] = ()


def _slug(text: str) -> str:
    """ASCII, lower-case, dash-separated form of a name."""
    ascii_ = unicodedata.normalize("NFKD", text.replace("'", "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")


def _office(when: datetime, offset: int) -> datetime:
    """Move ``when`` forward to the next working hour in a UTC+offset zone."""
    local = when + timedelta(hours=offset)
    if local.hour < 8:
        local = local.replace(hour=8)
    elif local.hour >= 18:
        local = local.replace(hour=8) + timedelta(days=1)
    if local.weekday() >= 5:
        local = local.replace(hour=8) + timedelta(days=7 - local.weekday())
    return (local - timedelta(hours=offset)).replace(microsecond=0)


class _Builder:
    """Collects mails and events, handing out stable identifiers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.seq = rng, 0
        self.mails: list[_Mail] = []
        self.events: list[SampleEvent] = []

    def _id(self, bits: int) -> str:
        """Random hex plus a counter, so identifiers are unique and seed-stable."""
        self.seq += 1
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}{self.seq:05d}"

    def mail(
        self,
        when: datetime,
        sender: _Who,
        to: _Who,
        subject: str,
        body: str,
        parent: _Mail | None = None,
        cc: _Who | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> _Mail:
        """Record a message; a reply extends the parent's References chain."""
        mid = f"<{self._id(48)}@{sender[1].split('@')[1]}>"
        refs = (*parent.refs, parent.mid) if parent else ()
        self.mails.append(
            m := _Mail(when, self.seq, mid, sender, to, subject, body, refs, cc, extra)
        )
        return m

    def event(
        self,
        kind: Literal["meeting", "call", "web"],
        c: _Contact,
        when: datetime,
        *,
        duration_s: int | None = None,
        url: str | None = None,
        dwell_s: int | None = None,
        subject: str | None = None,
        direction: Literal["inbound", "outbound"] | None = None,
    ) -> None:
        """Record an event unless it falls after the contact's activity window."""
        if when < c.end:
            source, prefix = {
                "meeting": ("calendar", "evt_"),
                "call": ("twilio", "CA"),
                "web": ("web", "pv_"),
            }[kind]
            self.events.append(
                SampleEvent(
                    kind,
                    source,
                    prefix + self._id(108),
                    c.who[1],
                    when,
                    duration_s,
                    url,
                    dwell_s,
                    subject,
                    direction,
                )
            )


def _quote(m: _Mail) -> str:
    """Attribution line plus the message quoted with "> "."""
    head = f"On {format_datetime(m.when)}, {m.sender[0]} <{m.sender[1]}> wrote:"
    return "\n".join([head, *(f"> {line}".rstrip() for line in m.body.splitlines())])


def _thread(b: _Builder, c: _Contact, start: datetime, subject: str) -> _Mail | None:
    """One email thread with a contact; replies depend on the hidden propensity."""
    rng, p, me, rep = b.rng, c.p, c.who, c.rep
    if (start := _office(start, rep[2])) >= c.end:
        return None
    fmt = {
        "co": c.account.name,
        "ind": c.account.industry,
        "site": _SITE,
        "seats": c.account.employees // 20 + 5,
    }
    hi, rep_sig = f"Hi {me[0].split()[0]},\n\n", f"\n\n-- \n{rep[0]}\nAccount Executive\n{_SITE}"
    hook = rng.choice(_HOOKS).format(**fmt)
    body = f"{hi}{hook}\n\nOpen to a 30-minute call next week?{rep_sig}"
    first = last = b.mail(start, rep, me, subject.format(**fmt), body)
    mood, bumps, cc = "", 0, None
    while len(last.refs) < 6 and not (mood == "no" and last.sender == rep):
        if last.sender == me:
            when = last.when + timedelta(hours=rng.uniform(0.3, 20))
            text = f"{hi}{rng.choice(_REP_ANSWERS[mood]).format(**fmt)}{rep_sig}"
            sender, to = rep, me
        elif rng.random() < 0.08 + 0.8 * p:
            when = last.when + timedelta(hours=rng.expovariate(1 / (1 + 90 * (1 - p) ** 2)))
            mood = "yes" if rng.random() < p else rng.choice(("meh", "no"))
            text = rng.choice({"yes": _YES, "meh": _MEH, "no": _NO}[mood]).format(**fmt)
            if mood == "yes" and c.peer and cc is None and rng.random() < 0.3:
                cc, text = c.peer, f"{text} Looping in {c.peer[0].split()[0]}."
            sign_off = rng.choice(("-- ", "Best,", "Thanks,"))
            text = f"Hi {rep[0].split()[0]},\n\n{text}\n\n{sign_off}\n{c.card}"
            sender, to = me, rep
        elif bumps < 2 and not mood:
            bumps += 1
            when = last.when + timedelta(days=rng.uniform(2, 6))
            text = f"{hi}Floating this to the top of your inbox - worth a quick chat?{rep_sig}"
            sender, to = rep, me
        else:
            break
        if (when := _office(when, sender[2])) >= c.end:
            break
        last = b.mail(
            when, sender, to, "Re: " + first.subject, f"{text}\n\n{_quote(last)}", last, cc
        )
    return first


def _activity(b: _Builder, c: _Contact) -> None:
    """Meetings, calls and page views; volume and quality follow the propensity."""
    rng, p, off, span = b.rng, c.p, c.rep[2], (c.end - c.start).total_seconds()

    def at(offset: int) -> datetime:
        # interest builds up: keener contacts' activity bunches towards the recent end
        return _office(
            c.start + timedelta(seconds=span * rng.random() ** (1 / (1 + 2 * p))), offset
        )

    for _ in range(sum(rng.random() < 0.1 + 0.7 * p for _ in range(3))):
        when = at(off)
        b.event(
            "meeting",
            c,
            when.replace(minute=when.minute // 30 * 30, second=0),
            duration_s=rng.choice((1800, 2700, 3600)),
            subject=f"Acme <> {c.account.name}: {rng.choice(_TOPICS)}",
        )
    for _ in range(sum(rng.random() < 0.1 + 0.55 * p for _ in range(4))):
        inbound = rng.random() < 0.5 * p
        talked = inbound or rng.random() < 0.25 + 0.65 * p
        b.event(
            "call",
            c,
            at(off),
            direction="inbound" if inbound else "outbound",
            duration_s=rng.randint(240, 600 + int(1800 * p)) if talked else rng.randint(12, 45),
            subject=rng.choice(_NOTES) if talked else "Left voicemail",
        )
    for _ in range(round(rng.uniform(0.5, 1.5) * (0.5 + 7 * p**1.3))):
        when = at(c.who[2])
        for _ in range(1 + int(rng.expovariate(1 / (0.5 + 2 * p)))):
            pricing = rng.random() < 0.08 + 0.5 * p
            dwell = 1 + int(rng.lognormvariate(math.log(40 + 150 * p if pricing else 45), 0.6))
            url = _SITE + ("/pricing" if pricing else rng.choice(_PAGES))
            b.event("web", c, when, url=url, dwell_s=dwell)
            when += timedelta(seconds=dwell + rng.randint(2, 20))


def _people(
    rng: random.Random, now: datetime, n: int, days: int
) -> tuple[list[SampleRep], list[_Who], list[SampleAccount], list[_Contact]]:
    """Reps, accounts (four contacts each) and contacts with their hidden propensity."""
    reps = [
        SampleRep(f"U0REP{i:02d}", name, f"{_slug(name).replace('-', '.')}@{INTERNAL_DOMAIN}", tz)
        for i, (name, tz, _) in enumerate(_REPS, 1)
    ]
    rep_who = [(r.name, r.email, off) for r, (_, _, off) in zip(reps, _REPS, strict=True)]
    order = rng.sample(_ACCOUNTS, len(_ACCOUNTS))
    accounts: list[SampleAccount] = []
    people: list[_Contact] = []
    for i in range(math.ceil(n / 4)):
        name, industry, employees, country = order[i % len(order)]
        name += f" {i // len(order) + 1}" if i >= len(order) else ""
        acct = SampleAccount(
            name,
            f"{_slug(name)}.example",
            industry,
            int(employees * rng.uniform(0.8, 1.25)),
            reps[i % len(reps)].slack_user_id,
        )
        accounts.append(acct)
        company = f"{name} {rng.choice(_SUFFIX[country])}"
        offset = 0 if country == "UK" else rng.choice((-5, -6, -8))
        group: list[_Contact] = []
        for first, last in zip(rng.sample(_FIRST, 4), rng.sample(_LAST, 4), strict=True):
            title, seniority = rng.choice(_TITLES)
            engaged = rng.gauss(0, 0.8)  # latent; surfaces only through behaviour
            logit = -0.9 + 1.8 * seniority + _FIT[industry] + engaged + rng.gauss(0, 0.4)
            phone = (
                f"+44 20 7946 0{rng.randint(0, 999):03d}"
                if country == "UK"
                else f"+1 {rng.choice(_AREA)} 555 01{rng.randint(0, 99):02d}"
            )
            email = f"{_slug(first)}.{_slug(last)}@{acct.domain}"
            card = f"{first} {last}\n{title}\n{company}\n{phone}"
            group.append(
                _Contact(
                    (f"{first} {last}", email, offset),
                    card,
                    acct,
                    rep_who[i % len(reps)],
                    round(min(0.98, max(0.02, 1 / (1 + math.exp(-logit)))), 4),
                    now - timedelta(days=days * rng.uniform(0.3, 1.0)),
                    now - timedelta(minutes=10),
                )
            )
        group = group[: n - len(people)]
        for k, c in enumerate(group):
            c.peer = group[(k + 1) % len(group)].who if len(group) > 1 else None
        people += group
    return reps, rep_who, accounts, people


def _deals(
    rng: random.Random, people: list[_Contact], now: datetime, days: int
) -> list[SampleDeal]:
    """Deals for a propensity-weighted sample of contacts; old ones are closed."""
    ranked = sorted(people, key=lambda c: rng.random() ** (1 / (0.3 + c.p)), reverse=True)
    deals = []
    for i, c in enumerate(sorted(ranked[: round(len(people) * 5 / 12)], key=lambda c: c.start)):
        created = _office(c.start + timedelta(days=rng.uniform(4, 14)), c.rep[2])
        amount = int(round(rng.uniform(0.6, 1.5) * (9000 + 25 * c.account.employees**0.9), -3))
        closed: datetime | None = None
        outcome: Literal["won", "lost", "open"] = "open"
        if created < now - timedelta(days=days * 0.5):
            closed = min(
                _office(created + timedelta(days=rng.uniform(15, 45)), c.rep[2]),
                _office(now - timedelta(days=4), c.rep[2]),
            )
            c.end = closed - timedelta(hours=2)
            outcome = "won" if rng.random() < c.p else "lost"
            stage = "Closed Won" if outcome == "won" else "Closed Lost"
        else:
            stage = _OPEN_STAGES[min(3, int((now - created).days / 12 * (0.4 + c.p)))]
        deals.append(
            SampleDeal(
                f"deal-{1001 + i}",
                f"{c.account.name} - Acme Insights ({amount // 600} seats)",
                c.account.domain,
                c.who[1],
                c.account.owner_slack_id,
                amount,
                created,
                closed,
                stage,
                outcome,
            )
        )
    return deals


def _extras(
    b: _Builder, reps: list[_Who], firsts: list[tuple[_Mail, _Contact]], now: datetime, days: int
) -> None:
    """Out-of-office replies, newsletters and rep-to-rep mail for the importer to skip."""
    rng = b.rng
    for first, c in rng.sample(firsts, min(3, len(firsts))):
        back = format_datetime(first.when + timedelta(days=rng.randint(3, 10)))[:16]
        b.mail(
            first.when + timedelta(minutes=rng.randint(1, 4)),
            c.who,
            first.sender,
            f"Automatic reply: {first.subject}",
            f"I'm out of the office until {back} with limited access to email.\n\n{c.who[0]}",
            first,
            extra=(("Auto-Submitted", "auto-replied"),),
        )
    senders = (
        ("SaaS Weekly", "news@saasweekly.example"),
        ("RevOps Digest", "digest@revops-digest.example"),
    )
    for (name, addr), rep in zip(senders, reps[:2], strict=True):
        host = addr.split("@")[1]
        b.mail(
            now - timedelta(days=rng.uniform(1, days)),
            (name, addr, 0),
            rep,
            f"{name}: five forecasting mistakes to avoid",
            f"This week: why pipeline coverage lies.\n\nUnsubscribe: https://{host}/u",
            extra=(
                ("List-Unsubscribe", f"<https://{host}/u/{b.seq:05d}>, <mailto:u@{host}>"),
                ("List-Id", f"{name} <news.{host}>"),
                ("Precedence", "bulk"),
            ),
        )
    notes = (
        ("Pipeline review Thursday", "Bring your top three open deals to the review."),
        ("Territory handover", "Sharing my notes on the accounts moving to you."),
    )
    for (subject, text), (src, dst) in zip(
        notes, ((reps[0], reps[1]), (reps[2], reps[0])), strict=True
    ):
        b.mail(
            _office(now - timedelta(days=rng.uniform(4, 30)), src[2]),
            src,
            dst,
            subject,
            f"Hi {dst[0].split()[0]},\n\n{text}\n\n{src[0].split()[0]}",
        )


def _render(m: _Mail) -> bytes:
    """Serialise one mail as RFC 5322 bytes: CRLF lines, RFC 2047 encoded display names."""
    head = [
        ("Message-ID", m.mid),
        ("Date", format_datetime(m.when)),
        ("From", formataddr(m.sender[:2], "utf-8")),
        ("To", formataddr(m.to[:2], "utf-8")),
    ]
    head += [("Cc", formataddr(m.cc[:2], "utf-8"))] if m.cc else []
    head.append(("Subject", m.subject))
    if m.refs:
        head += [("In-Reply-To", m.refs[-1]), ("References", "\r\n ".join(m.refs))]
    head += [
        *m.extra,
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    lines = [f"{key}: {value}" for key, value in head] + ["", *m.body.splitlines()]
    return "\r\n".join(lines).encode() + b"\r\n"


def generate(*, seed: int = 7, now: datetime, contacts: int = 60, days: int = 120) -> SampleData:
    """Build the demo company; the same ``seed`` and ``now`` give byte-identical output."""
    if now.tzinfo is None or days < 30 or contacts < 1:
        raise ValueError("need a timezone-aware now, days >= 30 and contacts >= 1")
    now = now.astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    reps, rep_who, accounts, people = _people(rng, now, contacts, days)
    deals = _deals(rng, people, now, days)
    b = _Builder(rng)
    firsts: list[tuple[_Mail, _Contact]] = []
    for c in people:
        threads = 1 + int(rng.random() * (0.5 + 2.5 * c.p))
        subjects = rng.sample(_SUBJECTS, threads)
        for k in range(threads):
            start = c.start + (c.end - c.start) * ((k + rng.random() / 2) / threads if k else 0)
            if first := _thread(b, c, start, subjects[k]):
                firsts.append((first, c))
        _activity(b, c)
    _extras(b, rep_who, firsts, now, days)
    mails = sorted(b.mails, key=lambda m: (m.when, m.seq))
    events = sorted(b.events, key=lambda e: (e.occurred_at, e.external_id))
    truth = MappingProxyType({c.who[1]: c.p for c in people})
    return SampleData(
        INTERNAL_DOMAIN,
        tuple(reps),
        tuple(_render(m) for m in mails),
        tuple(events),
        tuple(deals),
        truth,
        tuple(accounts),
    )
