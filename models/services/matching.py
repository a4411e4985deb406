"""Fuzzy duplicate candidates: blocking on name keys, then a score from name, company and keys.

Pure functions over :class:`Person` (no database), shared by capture, ``nudge dedupe`` and
the P5 benchmark. Blocking keeps the work near-linear: two people are compared only if they
share a key — a name token's first three letters with another token's initial (so swapped,
missing or misspelt parts still meet), the company with a name initial, a phone's last six
digits, or an email's local part (unless it is only spelled from the name). Blocks larger
than :data:`MAX_BLOCK` say too little to be worth comparing and are skipped.
"""

from __future__ import annotations

import string
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

MAX_BLOCK = 400
BATCH = 16  # CPU s for 30,000 contacts: 8.9 one block at a time, 4.8 at 16, 7.3 at 64
Matrix = np.ndarray[Any, np.dtype[Any]]
WEIGHTS = {"name": 0.5, "company": 0.15, "phone": 0.35, "email": 0.35}
PARTIAL_NAME = 0.85  # a name with a missing part is weaker evidence than a full one
CORROBORATES = 0.8  # a phone (one digit slip) or company this similar counts as agreeing
SAME_NAME = 0.92  # without a shared phone or email: a merge needs this name similarity
CLOSE_NAME = 0.85  # ... and a proposal this one
LEGAL_FORMS = frozenset(
    {"inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc",
     "plc", "gmbh", "ag", "sa", "sas", "sarl", "bv", "nv", "oy", "ab", "pty", "srl", "spa"}
)  # fmt: skip
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


def name_made(local: str, tokens: Sequence[str]) -> bool:
    """Whether an address's local part is only spelled from the name (so says nothing more).

    ``tom.chen`` for Tom Chen is the company's address pattern, not a clue: two Tom Chens
    elsewhere have it too. ``tchen77`` or ``tiger`` is the person's own.

    >>> name_made("tom.chen", ["tom", "chen"]), name_made("t_chen", ["tom", "chen"])
    (True, True)
    >>> name_made("tchen77", ["tom", "chen"]), name_made("tom.chen", [])
    (False, False)
    """
    if not tokens:
        return False
    letters = "".join(c for c in fold(local) if c.isalnum())
    first, last = tokens[0], tokens[-1]
    spelled = {
        first, last, first + last, last + first, first[0] + last, last + first[0],
        first + last[0], last[0] + first, "".join(tokens), "".join(t[0] for t in tokens),
    }  # fmt: skip
    return letters in spelled


def _prepare(person: Person) -> _Prepared:
    tokens = tuple(fold(person.name).split())
    locals_ = {e.lower().partition("@")[0].split("+", 1)[0] for e in person.emails}
    locals_ = {local for local in locals_ if not name_made(local, tokens)}
    return _Prepared(
        person=person,
        tokens=tokens,
        company=" ".join(t for t in fold(person.company).split() if t not in LEGAL_FORMS),
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


def _jaro_winkler(x: list[str], y: list[str]) -> Matrix:
    return process.cdist(x, y, scorer=JaroWinkler.similarity, dtype=np.float64)


def _names(block: Sequence[_Prepared]) -> Matrix:
    """Name similarity of every pair, 0–1.

    Two full names: the best of token-sort ratio and Jaro-Winkler of given and family
    names, in order or swapped. A one-word name against another name: its best
    Jaro-Winkler against that name's first or last word, counted as partial evidence
    (× :data:`PARTIAL_NAME`) against a fuller name.
    """
    first = [p.tokens[0] if p.tokens else "" for p in block]
    last = [p.tokens[-1] if p.tokens else "" for p in block]
    whole = [p.name for p in block]
    same_order = (_jaro_winkler(first, first) + _jaro_winkler(last, last)) / 2
    first_last = _jaro_winkler(first, last)
    swapped = (first_last + first_last.T) / 2
    ratio = process.cdist(whole, whole, scorer=fuzz.token_sort_ratio, dtype=np.float64) / 100
    full = np.maximum(ratio, np.maximum(same_order, swapped))
    words = np.array([len(p.tokens) for p in block])
    one_i, one_j = words[:, None] == 1, words[None, :] == 1
    first_first = _jaro_winkler(first, first)
    partial = np.where(
        one_i, np.maximum(first_first, first_last), np.maximum(first_first, first_last.T)
    ) * np.where(one_i & one_j, 1.0, PARTIAL_NAME)
    named = (words[:, None] > 0) & (words[None, :] > 0)
    result: Matrix = np.where(named, np.where(one_i | one_j, partial, full), 0.0)
    return result


def _phones(block: Sequence[_Prepared]) -> Matrix:
    """1 for a shared number, 0.8 / 0.5 for one / two digit slips, else 0 (best of each pair)."""
    best = np.zeros((len(block), len(block)))
    owners = np.array([k for k, p in enumerate(block) for _d in p.digits], dtype=np.intp)
    numbers = [d[-10:] for p in block for d in p.digits]
    if numbers:
        distance = process.cdist(numbers, numbers, scorer=Levenshtein.distance, score_cutoff=2)
        similarity = np.select([distance == 0, distance == 1, distance == 2], [1.0, 0.8, 0.5], 0.0)
        np.maximum.at(best, (owners[:, None], owners[None, :]), similarity)
    return best


def _emails(block: Sequence[_Prepared]) -> Matrix:
    """True where two people share an email local part."""
    shared = np.zeros((len(block), len(block)), dtype=bool)
    holders: dict[str, list[int]] = defaultdict(list)
    for k, person in enumerate(block):
        for local in person.locals:
            holders[local].append(k)
    for members in holders.values():
        if len(members) > 1:
            shared[np.ix_(members, members)] = True
    return shared


@dataclass(frozen=True, slots=True)
class _Scores:
    """Evidence and match score of every pair of one block."""

    block: Sequence[_Prepared]
    score: Matrix
    evidence: dict[str, tuple[Matrix, Matrix]]  # kind: (similarity, where both records have it)

    def candidate(self, x: int, y: int) -> Candidate:
        evidence = {
            kind: round(float(values[x, y]), 3)
            for kind, (values, present) in self.evidence.items()
            if present[x, y]
        }
        a, b = sorted((self.block[x].person.key, self.block[y].person.key))
        return Candidate(a, b, round(float(self.score[x, y]), 4), evidence)


def _numbers_differ(texts: Sequence[str]) -> Matrix:
    """True where two texts carry different numbers ("Agent 4" and "Agent 5" are two people).

    >>> _numbers_differ(["agent0", "agent1", "ana"]).astype(int).tolist()
    [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    """
    numbers = np.array(["".join(filter(str.isdigit, text)) for text in texts])
    differ: Matrix = numbers[:, None] != numbers[None, :]
    return differ


def _score(block: Sequence[_Prepared]) -> _Scores:
    """The weighted mean over the evidence both records of a pair have.

    Name always counts; company when both have one; phones when both have one (different
    numbers count against); a shared email local part only for (never against). Names that
    differ in their numbers do not agree at all, however alike the letters (a company's
    numbers, an address say, are too often mistyped to overrule it).
    """
    companies = [p.company for p in block]
    has_company = np.array([bool(c) for c in companies])
    has_phone = np.array([bool(p.digits) for p in block])
    email = _emails(block)
    names = np.where(_numbers_differ([p.name for p in block]), 0.0, _names(block))
    evidence = {
        "name": (names, np.ones_like(email)),
        "company": (
            process.cdist(companies, companies, scorer=fuzz.token_sort_ratio, dtype=np.float64)
            / 100,
            has_company[:, None] & has_company[None, :],
        ),
        "phone": (_phones(block), has_phone[:, None] & has_phone[None, :]),
        "email": (email.astype(np.float64), email),
    }
    total = sum(WEIGHTS[k] * present for k, (_v, present) in evidence.items())
    weighted = sum(WEIGHTS[k] * values * present for k, (values, present) in evidence.items())
    return _Scores(block, weighted / total, evidence)


def compare(a: Person, b: Person) -> Candidate:
    """The match score of two people, with its evidence.

    >>> compare(Person(1, "Ana Silva", "Globex Inc"), Person(2, "Silva Ana", "Globex"))
    Candidate(a=1, b=2, score=1.0, evidence={'name': 1.0, 'company': 1.0})
    >>> ana = Person(1, "Ana", phones=("4155550134",))
    >>> compare(ana, Person(2, "Ana Silva", phones=("4155550184",)))
    Candidate(a=1, b=2, score=0.8294, evidence={'name': 0.85, 'phone': 0.8})
    """
    return _score([_prepare(a), _prepare(b)]).candidate(0, 1)


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


def _blocks(prepared: Sequence[_Prepared]) -> Iterator[list[int]]:
    """Each block of more than one person (and at most :data:`MAX_BLOCK`)."""
    members: dict[str, list[int]] = defaultdict(list)
    for index, person in enumerate(prepared):
        for key in block_keys(person):
            members[key].append(index)
    for block in members.values():
        if 1 < len(block) <= MAX_BLOCK:
            yield block


def _batches(blocks: Iterable[list[int]]) -> Iterator[tuple[list[int], Matrix]]:
    """Blocks packed into batches of about :data:`BATCH` people, scored as one matrix.

    Yields the people of a batch and, for each pair, whether they share a block: small
    blocks are the many, and one matrix for several costs less than one each.
    """
    people: list[int] = []
    labels: list[int] = []
    for block in blocks:
        people += block
        labels += [len(labels) and labels[-1] + 1] * len(block)
        if len(people) >= BATCH:
            yield people, _same(labels)
            people, labels = [], []
    if people:
        yield people, _same(labels)


def _same(labels: list[int]) -> Matrix:
    array = np.array(labels)
    same: Matrix = array[:, None] == array[None, :]
    return same


def candidates(
    people: Sequence[Person], *, weak: float, among: Iterable[int] | None = None
) -> list[Candidate]:
    """Every pair scoring at least ``weak``, best first; with ``among``, only pairs touching it."""
    prepared = [_prepare(p) for p in people]
    focus = set(among) if among is not None else None
    seen: set[tuple[int, int]] = set()
    found: list[Candidate] = []
    for batch, same_block in _batches(_blocks(prepared)):
        members = [prepared[i] for i in batch]
        scores = _score(members)
        wanted = np.triu((scores.score >= weak) & same_block, k=1)
        if focus is not None:
            touching = np.array([p.person.key in focus for p in members])
            wanted &= touching[:, None] | touching[None, :]
        for x, y in zip(*np.nonzero(wanted), strict=True):
            pair = (batch[x], batch[y])  # one block's people are in ascending order
            if pair not in seen:
                seen.add(pair)
                found.append(scores.candidate(x, y))
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
    >>> weak = Candidate(3, 4, 0.7, {"name": 0.9})
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
        if verdict(candidate, thresholds) is None:
            continue
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
