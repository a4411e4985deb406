"""Contract of the learner (River's ``check_estimator`` idea): pure, no database."""

from __future__ import annotations

import pickle

import pytest

from learning.features import Features
from learning.pipeline import LeadModel, build_model
from learning.scorer import Scorer
from models.config import ScoringConfig

HOT: Features = {"pricing_visits_7d": 3.0, "meetings_30d": 1.0, "reply_rate_90d": 1.0}
COLD: Features = {"unanswered_streak": 4.0, "recency": 0.1, "seniority": "individual"}
MIXED: Features = {"emails_out_30d": 3.0, "emails_in_30d": 1.0, "seniority": "vp", "recency": 0.5}
PROBES: tuple[Features, ...] = (HOT, COLD, MIXED, {})
EXAMPLES: tuple[tuple[Features, bool, float], ...] = (
    (HOT, False, 1.0),
    ({**COLD, "industry": "retail", "calls_30d": 2.0}, True, 0.8),
    ({"company_size": "unknown", "industry": "unknown", "seniority": "other"}, True, 1.0),
    (MIXED, True, 0.5),
    ({"brand_new_signal": 4.0, "deal_stage": "Proposal"}, True, 1.0),
)


def trained(model: LeadModel) -> LeadModel:
    """The model after learning EXAMPLES, in order."""
    for features, label, weight in EXAMPLES:
        model.learn(features, label, weight)
    return model


def views(model: LeadModel) -> list[tuple[float, dict[str, float]]]:
    """What scoring reads from a model: probability and contributions per probe."""
    return [(model.probability(p), model.contributions(p)) for p in PROBES]


def scorer(model: LeadModel, **config: int) -> Scorer:
    """A scorer over ``model`` with the given scoring config."""
    return Scorer(model, version=0, outcomes_seen=0, config=ScoringConfig(**config))


@pytest.mark.parametrize("learn", [False, True], ids=["fresh", "trained"])
def test_pickle_round_trip_keeps_every_view(learn: bool) -> None:
    """A snapshot restores the same probabilities and contributions, fresh or trained."""
    model = trained(build_model()) if learn else build_model()
    restored = LeadModel.from_bytes(model.to_bytes())
    assert views(restored) == views(model)
    assert views(pickle.loads(pickle.dumps(model))) == views(model)  # noqa: S301


def test_unseen_and_missing_features_still_score() -> None:
    """Unknown names and categories, and an empty dict, give a score in 0..100."""
    model = trained(build_model())
    odd: list[Features] = [
        {},
        {"never_seen": 9.0, "seniority": "astronaut", "industry": "other"},
        {"pricing_visits_7d": 1e9, "meetings_30d": 1e9, "reply_rate_90d": 1.0},
        {"unanswered_streak": 1e9, "emails_out_30d": 1e9},
        {"emails_in_7d": -5.0},
    ]
    for features in odd:
        score = scorer(model).score(features)
        assert isinstance(score.value, int)
        assert 0 <= score.value <= 100
    assert scorer(model).score(odd[2]).value == 100
    assert scorer(model).score(odd[3]).value == 0
    assert model.contributions({"never_seen": 9.0}) == {}
    unknown: Features = {"company_size": "unknown", "industry": "unknown", "seniority": "other"}
    assert model.contributions(unknown) == {}
    assert model.probability(unknown) == model.probability({})


def test_same_construction_and_same_updates_give_the_same_model() -> None:
    """Two builds score alike; the same updates give identical weights."""
    first, second = build_model(), build_model()
    assert views(first) == views(second)
    trained(first)
    trained(second)
    assert first.pipeline[-1].weights == second.pipeline[-1].weights
    assert first.pipeline[-1].intercept == second.pipeline[-1].intercept
    assert views(first) == views(second)
    assert views(first) != views(build_model())


def test_copy_is_independent() -> None:
    """Learning on a copy leaves the original untouched, and the other way round."""
    original = build_model()
    before = views(original)
    copy = original.copy()
    trained(copy)
    assert views(original) == before
    assert views(copy) != before
    original.learn(COLD, True, 1.0)
    assert views(copy) == views(trained(build_model()))


async def learn_then_fail(live: Scorer) -> None:
    """Stage an outcome, then fail as a transaction that did not commit would."""
    async with live.update() as pending:
        assert pending.learn(HOT, False, 1.0, outcome=True) == 1
        raise RuntimeError("rolled back")


async def test_update_is_adopted_only_on_a_clean_exit() -> None:
    """An exception inside ``update()`` leaves model, version and outcomes as they were."""
    live = scorer(build_model())
    before = views(live.model)
    with pytest.raises(RuntimeError, match="rolled back"):
        await learn_then_fail(live)
    assert (live.version, live.outcomes_seen, views(live.model)) == (0, 0, before)
    async with live.update() as pending:
        pending.learn(HOT, False, 1.0, outcome=True)
        assert views(live.model) == before
    assert (live.version, live.outcomes_seen) == (1, 1)
    assert live.model.probability(HOT) < before[0][0]


async def test_low_confidence_until_min_outcomes() -> None:
    """Only outcome updates count towards ``min_outcomes``; feedback does not."""
    live = scorer(build_model(), min_outcomes=3)
    async with live.update() as pending:
        for _ in range(5):
            pending.learn(HOT, True, 0.5, outcome=False)
        pending.learn(HOT, True, 1.0, outcome=True)
        pending.learn(COLD, False, 1.0, outcome=True)
    assert live.score(HOT).low_confidence
    async with live.update() as pending:
        pending.learn(MIXED, True, 1.0, outcome=True)
    assert not live.score(HOT).low_confidence
    assert live.score(HOT).model_version == 8


def test_bands_come_from_the_config() -> None:
    """The same score is hot, warm or cold as the configured thresholds move around it."""
    model = build_model()
    value = scorer(model).score(MIXED).value
    assert 1 < value < 100
    assert value == round(model.probability(MIXED) * 100)
    assert scorer(model, hot=value, warm=value - 1).score(MIXED).band == "hot"
    assert scorer(model, hot=value + 1, warm=value).score(MIXED).band == "warm"
    assert scorer(model, hot=value + 1, warm=value - 1).score(MIXED).band == "warm"
    assert scorer(model, hot=value + 2, warm=value + 1).score(MIXED).band == "cold"
