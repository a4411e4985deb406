"""Fuzzy duplicate candidates: blocking on name keys, then a score from name, company and keys.

Pure functions over :class:`Person` (no database), shared by capture, ``nudge dedupe`` and
the P5 benchmark. Blocking keeps the work near-linear: two people are compared only if they
share a key — a name token's first three letters with another token's initial (so swapped,
missing or misspelt parts still meet), the company with a name initial, a phone's last six
digits, or an email's local part. Blocks larger than :data:`MAX_BLOCK` say too little to be
worth comparing and are skipped.
"""

from __future__ import annotations

import string
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

MAX_BLOCK = 400
NAME_FLOOR = 55.0  # token-sort ratio below which two names are never candidates
WEIGHTS = {"name": 0.5, "company": 0.15, "phone": 0.35, "email": 0.35}
PARTIAL_NAME = 0.85  # a name with a missing part is weaker evidence than a full one
CORROBORATES = 0.8
SAME_NAME = 0.92  # without a shared phone or email: a merge needs this name similarity
CLOSE_NAME = 0.85  # ... and a proposal this one
GENERIC_LOCALS = frozenset({"info", "sales", "contact", "admin", "office", "hello", "support"})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores at or above ``strong`` merge by themselves; from ``weak`` they are proposed.

    The defaults were tuned on FEBRL1 (``bench/dedupe.py``; FEBRL2–4 held out).
    """

    strong: float = 0.75
    weak: float = 0.7


@dataclass(frozen=True, slots=True)
class Person:
    """What matching knows of a contact: its id, name, company, phones and emails."""

    key: int
    name: str
    company: str = ""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """Two people who may be one, ``a`` < ``b``, with the score and its evidence."""

    a: int
    b: int
    score: float
    evidence: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Prepared:
    person: Person
    tokens: tuple[str, ...]
    company: str
    digits: tuple[str, ...]
    locals: frozenset[str]

    @property
    def name(self) -> str:
        return " ".join(self.tokens)


def fold(text: str) -> str:
    """Lower-case ASCII letters, digits and spaces only.

    >>> fold("  Zoë O'Brien-Smith ")
    'zoe obrien smith'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    kept = "".join(
        c if c in string.ascii_letters or c in string.digits else " " if c in " -_.,/" else ""
        for c in ascii_text.lower()
    )
    return " ".join(kept.split())


def _prepare(person: Person) -> _Prepared:
    locals_ = {e.lower().partition("@")[0].split("+", 1)[0] for e in person.emails}
    return _Prepared(
        person=person,
        tokens=tuple(fold(person.name).split()),
        company=fold(person.company),
        digits=tuple(d for d in ("".join(filter(str.isdigit, p)) for p in person.phones) if d),
        locals=frozenset(x for x in locals_ if len(x) >= 3 and x not in GENERIC_LOCALS),
    )


def block_keys(person: _Prepared) -> set[str]:
    """The blocks a person falls into (see the module's description).

    >>> sorted(block_keys(_prepare(Person(1, "Ana Silva", phones=("+14155550134",)))))
    ['n:ana|s', 'n:sil|a', 'p:550134']
    """
    tokens = person.tokens[:3]
    keys = {f"n:{a[:3]}|{b[0]}" for a, b in combinations(tokens, 2)}
    keys |= {f"n:{b[:3]}|{a[0]}" for a, b in combinations(tokens, 2)}
    if len(tokens) == 1:
        keys |= {f"n:{tokens[0][:3]}|{letter}" for letter in string.ascii_lowercase}
    if person.company:
        keys |= {f"c:{person.company}|{t[0]}" for t in tokens}
    keys |= {f"p:{d[-6:]}" for d in person.digits if len(d) >= 6}
    keys |= {f"e:{local}" for local in person.locals}
    return keys


def _pair_name(a: Sequence[str], b: Sequence[str]) -> float:
    """Given and family names compared in order and swapped, each part by Jaro-Winkler."""
    straight = (JaroWinkler.similarity(a[0], b[0]) + JaroWinkler.similarity(a[-1], b[-1])) / 2
    swapped = (JaroWinkler.similarity(a[0], b[-1]) + JaroWinkler.similarity(a[-1], b[0])) / 2
    return max(straight, swapped)


def name_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """0–1; a one-word name against a fuller one counts as partial evidence.

    >>> round(name_similarity(("ana", "silva"), ("silva", "ana")), 2)
    1.0
    >>> round(name_similarity(("ana",), ("ana", "silva")), 2)
    0.85
    """
    if not a or not b:
        return 0.0
    if len(a) > 1 and len(b) > 1:
        whole = fuzz.token_sort_ratio(" ".join(a), " ".join(b)) / 100
        return max(whole, _pair_name(a, b))
    short, full = (a, b) if len(a) <= len(b) else (b, a)
    best = max(JaroWinkler.similarity(short[0], token) for token in full)
    return best * (PARTIAL_NAME if len(full) > 1 else 1.0)


def phone_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """1 for the same digits, less for one or two slips, 0 for different numbers.

    >>> same, slip = ("4155550134",), ("4155550184",)
    >>> phone_similarity(same, same), phone_similarity(same, slip)
    (1.0, 0.8)
    """
    best = 0.0
    for x in a:
        for y in b:
            distance = Levenshtein.distance(x[-10:], y[-10:], score_cutoff=2)
            best = max(best, {0: 1.0, 1: 0.8, 2: 0.5}.get(distance, 0.0))
    return best


def compare(a: _Prepared, b: _Prepared) -> Candidate:
    """The match score of two people: a weighted mean over the evidence both records have.

    Name always counts; company when both have one; phones when both have one (different
    numbers count against); a shared email local part only for (never against).
    """
    evidence = {"name": name_similarity(a.tokens, b.tokens)}
    if a.company and b.company:
        evidence["company"] = fuzz.token_sort_ratio(a.company, b.company) / 100
    if a.digits and b.digits:
        evidence["phone"] = phone_similarity(a.digits, b.digits)
    if a.locals & b.locals:
        evidence["email"] = 1.0
    total = sum(WEIGHTS[k] for k in evidence)
    score = sum(WEIGHTS[k] * v for k, v in evidence.items()) / total
    x, y = sorted((a.person.key, b.person.key))
    return Candidate(x, y, round(score, 4), {k: round(v, 3) for k, v in evidence.items()})


def _keys_agree(candidate: Candidate) -> bool:
    """Whether a phone (give or take a slip) or an email local part is shared."""
    return candidate.evidence.get("phone", 0.0) >= CORROBORATES or "email" in candidate.evidence


def verdict(candidate: Candidate, thresholds: Thresholds) -> str | None:
    """'merge' for a strong match, 'propose' for a weaker one, else None.

    Without a shared phone or email the name must carry the match: a merge needs a near
    exact name at the same company, a proposal a close name; a name alone is at most
    proposed. Colleagues who share a first name are neither.
    """
    evidence, keys = candidate.evidence, _keys_agree(candidate)
    if candidate.score >= thresholds.strong and (
        keys or (evidence["name"] >= SAME_NAME and evidence.get("company", 0.0) >= CORROBORATES)
    ):
        return "merge"
    if candidate.score >= thresholds.weak and (keys or evidence["name"] >= CLOSE_NAME):
        return "propose"
    return None


def _blocks(prepared: Sequence[_Prepared]) -> Iterator[tuple[bool, list[int]]]:
    """Each block of more than one person, and whether it shares a number or address."""
    members: dict[str, list[int]] = defaultdict(list)
    for index, person in enumerate(prepared):
        for key in block_keys(person):
            members[key].append(index)
    for key, block in members.items():
        if 1 < len(block) <= MAX_BLOCK:
            yield key[0] in "pe", block


def candidates(
    people: Sequence[Person], *, weak: float, among: Iterable[int] | None = None
) -> list[Candidate]:
    """Every pair scoring at least ``weak``, best first; with ``among``, only pairs touching it."""
    prepared = [_prepare(p) for p in people]
    focus = set(among) if among is not None else None
    seen: set[tuple[int, int]] = set()
    found: list[Candidate] = []
    for by_key, block in _blocks(prepared):
        names = [prepared[i].name for i in block]
        ratios = process.cdist(names, names, scorer=fuzz.token_sort_ratio, score_cutoff=NAME_FLOOR)
        partial = np.array([len(prepared[i].tokens) < 2 for i in block])
        close = np.ones_like(ratios, dtype=bool) if by_key else ratios > 0
        close |= partial[:, None] | partial[None, :]
        for x, y in zip(*np.nonzero(np.triu(close, k=1)), strict=True):
            i, j = block[x], block[y]
            pair = (i, j) if i < j else (j, i)
            if pair in seen:
                continue
            seen.add(pair)
            a, b = prepared[i], prepared[j]
            if focus is not None and a.person.key not in focus and b.person.key not in focus:
                continue
            candidate = compare(a, b)
            if candidate.score >= weak:
                found.append(candidate)
    return sorted(found, key=lambda c: (-c.score, c.a, c.b))


@dataclass(slots=True)
class Plan:
    """What to do with candidates: merges as (survivor, merged, score), then proposals."""

    merges: list[tuple[int, int, float]] = field(default_factory=list)
    proposals: list[Candidate] = field(default_factory=list)


def plan(
    found: Sequence[Candidate],
    thresholds: Thresholds,
    answered: Set[tuple[int, int]] = frozenset(),
) -> Plan:
    """Merges and proposals for candidates (best first), skipping pairs already answered.

    Merges chain: a person met three times becomes one contact, the oldest (smallest key)
    surviving. A proposal names the contacts that will still exist after the merges.

    >>> strong = Candidate(1, 2, 0.95, {"name": 1.0, "company": 1.0})
    >>> chained = Candidate(2, 3, 0.9, {"name": 0.9, "phone": 1.0})
    >>> weak = Candidate(3, 4, 0.7, {"name": 0.7})
    >>> todo = plan([strong, chained, weak], Thresholds(strong=0.8, weak=0.6))
    >>> todo.merges, [(c.a, c.b) for c in todo.proposals]
    ([(1, 2, 0.95), (1, 3, 0.9)], [(1, 4)])
    """
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while x in parent:
            x = parent[x]
        return x

    result = Plan()
    for candidate in found:
        if verdict(candidate, thresholds) != "merge" or (candidate.a, candidate.b) in answered:
            continue
        survivor, merged = sorted((root(candidate.a), root(candidate.b)))
        if survivor != merged and (survivor, merged) not in answered:
            parent[merged] = survivor
            result.merges.append((survivor, merged, candidate.score))
    seen: set[tuple[int, int]] = set()
    for candidate in found:
        a, b = sorted((root(candidate.a), root(candidate.b)))
        if a == b or (a, b) in seen or {(a, b), (candidate.a, candidate.b)} & answered:
            continue
        seen.add((a, b))
        result.proposals.append(Candidate(a, b, candidate.score, candidate.evidence))
    return result


def clusters(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Union-find over pairs: each key's cluster representative (the smallest key).

    >>> clusters([(3, 1), (4, 3), (7, 8)])
    {1: 1, 3: 1, 4: 1, 7: 7, 8: 7}
    """
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in sorted(parent)}
