"""Reasons state real evidence, exactly when it exists, from the model's real contributions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from learning.explain import Reason, Reasons, best_action, explain
from learning.features import FEATURES, FeatureInfo, Features, compute_features
from learning.pipeline import LeadModel, build_model, feature_of, vectorize
from learning.scorer import Scorer
from learning.timeline import LeadTimeline, Touch
from models.config import ScoringConfig

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
BROWSED = Touch("web", NOW - timedelta(days=5), page="home", dwell_s=120)


def ago(days: float = 0, hours: float = 0) -> datetime:
    """A moment before NOW."""
    return NOW - timedelta(days=days, hours=hours)


def features_of(*touches: Touch, seniority: str = "unknown") -> Features:
    """The features of a lead who browsed the site once, plus ``touches``."""
    timeline = LeadTimeline(touches=(BROWSED, *touches), seniority=seniority)
    return compute_features(timeline, NOW)


def every_reason(model: LeadModel, features: Features) -> tuple[Reason, ...]:
    """All reasons for and against, without a limit."""
    reasons = explain(model, features, limit=len(FEATURES))
    return reasons.supporting + reasons.opposing


def pricing(days: float) -> Touch:
    """A visit to the pricing page."""
    return Touch("web", ago(days), page="pricing", dwell_s=60)


def email(direction: str, days: float, hours: float = 0) -> Touch:
    """An email in or out."""
    return Touch("email", ago(days, hours), direction=direction)


# (evidence present, evidence absent, feature, sentence, supporting?)
CASES = {
    "pricing 7d": (
        features_of(pricing(1), pricing(2), pricing(3)),
        features_of(),
        "pricing_visits_7d", "visited the pricing page 3× in 7 days", True,
    ),
    "pricing 30d": (
        features_of(pricing(10), pricing(12)),
        features_of(pricing(40)),
        "pricing_visits_30d", "visited the pricing page 2× in 30 days", True,
    ),
    "unanswered": (
        features_of(email("outbound", 5), email("outbound", 3)),
        features_of(email("outbound", 5), email("outbound", 3), email("inbound", 2)),
        "unanswered_streak", "no reply to our last 2 emails", False,
    ),
    "meeting": (
        features_of(Touch("meeting", ago(5))),
        features_of(Touch("meeting", ago(5), cancelled=True)),
        "meetings_30d", "1 meeting booked or held in 30 days", True,
    ),
    "calls": (
        features_of(Touch("call", ago(4), duration_s=600), Touch("call", ago(2))),
        features_of(),
        "calls_30d", "2 calls in 30 days", True,
    ),
    "talk time": (
        features_of(Touch("call", ago(4), duration_s=1200)),
        features_of(Touch("call", ago(40), duration_s=1200)),
        "talk_min_30d", "20 minutes on the phone in 30 days", True,
    ),
    "reply speed": (
        features_of(email("outbound", 3), email("inbound", 3, hours=-3)),
        features_of(email("outbound", 3)),
        "reply_speed", "replies within 3 hours (median, 90 days)", True,
    ),
    "senior": (
        features_of(seniority="vp"),
        features_of(seniority="unknown"),
        "seniority", "VP-level title", True,
    ),
    "junior": (
        features_of(seniority="individual"),
        features_of(seniority="other"),
        "seniority", "individual-contributor title", False,
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("present", "absent", "feature", "text", "supporting"), CASES.values(), ids=CASES.keys()
)
def test_a_reason_appears_exactly_when_its_evidence_exists(
    present: Features, absent: Features, feature: str, text: str, supporting: bool
) -> None:
    """The sentence quotes the real count and window, and vanishes without the evidence."""
    model = build_model()
    reasons = explain(model, present, limit=len(FEATURES))
    side = reasons.supporting if supporting else reasons.opposing
    assert (feature, text) in [(r.feature, r.text) for r in side]
    family = FeatureInfo.family(feature)
    without = every_reason(model, absent)
    assert text not in [r.text for r in without]
    assert family not in [FeatureInfo.family(r.feature) for r in without]


def weight_times_value(model: LeadModel, features: Features, feature: str) -> float:
    """A feature's share of the log-odds, computed from the weights directly."""
    weights = model.pipeline[-1].weights
    vector = vectorize(features)
    return float(
        sum(weights.get(k, 0.0) * v for k, v in vector.items() if feature_of(k) == feature)
    )


def assert_reasons_follow_contributions(model: LeadModel, reasons: Reasons, f: Features) -> None:
    """Each reason's effect is its feature's weight × value, on the side its sign says."""
    shares = model.contributions(f)
    sides = [(r, True) for r in reasons.supporting] + [(r, False) for r in reasons.opposing]
    for reason, side in sides:
        assert reason.effect == shares[reason.feature]
        assert reason.effect == pytest.approx(weight_times_value(model, f, reason.feature))
        assert (reason.effect > 0) is side


def test_reasons_come_from_the_model_and_follow_its_signs() -> None:
    """Reasons follow the weights: teach the model that pricing visits mean no sale."""
    model = build_model()
    visited = CASES["pricing 7d"][0]
    for present, *_ in CASES.values():
        assert_reasons_follow_contributions(model, explain(model, present, limit=6), present)
    before = explain(model, visited, limit=6)
    assert "visited the pricing page 3× in 7 days" in [r.text for r in before.supporting]
    for _ in range(100):
        model.learn({"pricing_visits_7d": 3.0}, False, 1.0)
    after = explain(model, visited, limit=6)
    assert_reasons_follow_contributions(model, after, visited)
    assert "visited the pricing page 3× in 7 days" in [r.text for r in after.opposing]
    assert "pricing_visits_7d" not in [r.feature for r in after.supporting]


def test_one_reason_per_feature_family() -> None:
    """With every window filled, each measure is cited once, by its strongest window."""
    busy = features_of(
        *(email("outbound", d) for d in (2, 3, 20, 60)),
        *(email("inbound", d, hours=-2) for d in (3, 20, 60)),
        pricing(1), pricing(15), Touch("meeting", ago(10)), Touch("meeting", ago(50)),
    )  # fmt: skip
    model = build_model()
    reasons = every_reason(model, busy)
    families = [FeatureInfo.family(r.feature) for r in reasons]
    assert len(families) == len(set(families))
    shares = model.contributions(busy)
    for reason in reasons:
        family = FeatureInfo.family(reason.feature)
        strongest = max(
            (abs(s) for n, s in shares.items() if FeatureInfo.family(n) == family), default=0
        )
        assert abs(reason.effect) == strongest
    assert {"emails_out", "emails_in", "pricing_visits", "meetings"} <= set(families)


def test_one_reason_per_family_even_when_its_windows_disagree() -> None:
    """Once outcomes teach opposite signs to two windows, the family must still speak once."""
    model = build_model()
    for _ in range(200):
        model.learn({"emails_in_7d": 0.0, "emails_in_30d": 3.0}, False, 1.0)
        model.learn({"emails_in_7d": 1.0, "emails_in_30d": 1.0}, True, 1.0)
    lead: Features = {"emails_in_7d": 1.0, "emails_in_30d": 3.0, "emails_in_90d": 3.0}
    families = [FeatureInfo.family(r.feature) for r in every_reason(model, lead)]
    assert families.count("emails_in") == 1


def test_an_email_younger_than_two_days_is_not_unanswered() -> None:
    """Two days of grace before an email counts as unanswered."""
    model = build_model()
    cases = [
        ((email("outbound", 1),), 0.0),
        ((email("outbound", 1, hours=23),), 0.0),
        ((email("outbound", 2),), 1.0),
        ((email("outbound", 5), email("outbound", 1)), 1.0),
    ]
    for touches, streak in cases:
        features = features_of(*touches)
        assert features["unanswered_streak"] == streak
        texts = [r.text for r in explain(model, features, limit=6).opposing]
        assert ("no reply to our last email" in texts) is (streak == 1.0)


def test_a_young_email_does_not_lower_the_reply_rate() -> None:
    """A follow-up sent an hour ago has not been left unanswered: the rate stays 100%."""
    answered = (email("outbound", 10), email("inbound", 9))
    assert features_of(*answered)["reply_rate_90d"] == 1.0
    assert features_of(*answered, email("outbound", 0, hours=1))["reply_rate_90d"] == 1.0


def after_doing(label: str) -> Touch:
    """The touch each suggested action would add, happening now."""
    return {
        "book a meeting": Touch("meeting", NOW),
        "call them": Touch("call", NOW, duration_s=900),
        "get a reply to your last email": Touch("email", NOW, direction="inbound"),
    }[label]


LABELS = ("book a meeting", "call them", "get a reply to your last email")


def test_best_action_is_the_one_that_raises_the_score_most() -> None:
    """The hint names the action with the largest real gain; its points match the scores."""
    scorer = Scorer(build_model(), version=0, outcomes_seen=0, config=ScoringConfig())
    lead = (Touch("web", ago(6), page="pricing"),)
    before = scorer.score(features_of(*lead, seniority="manager"))
    gains = {
        label: scorer.score(features_of(*lead, after_doing(label), seniority="manager")).value
        - before.value
        for label in LABELS
    }
    assert before.action is not None
    label, points = before.action
    assert gains[label] == max(gains.values()) > 0
    assert points >= 1
    assert abs(points - gains[label]) <= 1
    hot = features_of(*lead, *(pricing(d) for d in (1, 2, 3, 4)), Touch("meeting", ago(2)))
    assert best_action(scorer.model, {**hot, "seniority": "c_level", "talk_min_30d": 90.0}) is None


def test_best_action_gain_is_the_difference_of_the_two_scores() -> None:
    """'call them: about +N' where N is the new score minus the old one, as shown."""
    scorer = Scorer(build_model(), version=0, outcomes_seen=0, config=ScoringConfig())
    before = scorer.score(features_of(seniority="manager"))
    after = scorer.score(features_of(after_doing("call them"), seniority="manager"))
    assert before.action == ("call them", after.value - before.value)
