"""The River pipeline that scores leads, with priors so day one is already useful.

>>> model = build_model()
>>> hot = {"pricing_visits_7d": 3.0, "meetings_30d": 1.0, "reply_rate_90d": 1.0}
>>> cold = {"unanswered_streak": 4.0, "recency": 0.1}
>>> model.probability(hot) > 0.5 > model.probability(cold)
True
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping

from river import compose, linear_model, optim

from learning.features import Features

_AS_IS = frozenset({"reply_rate_90d", "reply_speed", "title_changed_90d"})
_IGNORED_CATEGORIES = frozenset({"unknown", "other"})


def vectorize(features: Mapping[str, float | str]) -> dict[str, float]:
    """Numbers on a log scale, categories one-hot; unknown categories carry no weight.

    >>> vectorize({"emails_in_7d": 0.0, "seniority": "vp", "industry": "unknown"})
    {'emails_in_7d': 0.0, 'seniority=vp': 1.0}
    """
    vector: dict[str, float] = {}
    for name, value in features.items():
        if isinstance(value, str):
            if value not in _IGNORED_CATEGORIES:
                vector[f"{name}={value}"] = 1.0
        elif name in _AS_IS:
            vector[name] = float(value)
        else:
            vector[name] = math.log1p(max(0.0, float(value)))
    return vector


def feature_of(vector_key: str) -> str:
    """The feature a vector entry came from.

    >>> feature_of("seniority=vp")
    'seniority'
    """
    return vector_key.split("=", 1)[0]


# Pseudo-observations that encode what every sales team knows before its first outcome:
# engaged, senior, responsive leads buy more; silent ones less. Real outcomes outweigh
# them quickly, and they are part of the model's construction, so replays include them.
_HOT, _COLD = True, False
PRIOR_EXAMPLES: tuple[tuple[Features, bool], ...] = (
    (dict(emails_in_30d=3, emails_out_30d=3, reply_rate_90d=0.8, reply_speed=0.8,
          meetings_30d=1, pricing_visits_7d=2, seniority="vp", recency=0.9), _HOT),
    (dict(calls_30d=2, talk_min_30d=35, emails_in_30d=2, emails_out_30d=2, meetings_90d=2,
          recency=0.8, web_visits_30d=4), _HOT),
    (dict(pricing_visits_30d=4, dwell_min_30d=25, downloads_90d=2, seniority="c_level",
          recency=0.7, web_visits_30d=8, clicks_30d=2, opens_30d=3), _HOT),
    (dict(emails_in_7d=2, emails_out_7d=2, emails_out_30d=4, reply_rate_90d=1.0,
          reply_speed=0.95, meetings_30d=1, recency=1.0, title_changed_90d=1.0), _HOT),
    (dict(emails_out_7d=2, emails_out_30d=4, unanswered_streak=4, recency=0.15,
          seniority="individual"), _COLD),
    (dict(emails_out_30d=2, emails_out_90d=2, unanswered_streak=2, recency=0.08), _COLD),
    (dict(emails_out_7d=2, emails_out_30d=3, reply_rate_90d=0.0, unanswered_streak=3,
          recency=0.3, opens_30d=1), _COLD),
    (dict(emails_in_30d=1, emails_out_30d=2, reply_rate_90d=0.4, reply_speed=0.25,
          recency=0.35, open_issues=2), _COLD),
    (dict(web_visits_30d=1, recency=0.2, seniority="individual"), _COLD),
)  # fmt: skip
PRIOR_EPOCHS = 30


class LeadModel:
    """A River pipeline (vectorize → logistic regression) with the few views Nudge needs."""

    def __init__(self, pipeline: compose.Pipeline) -> None:
        self.pipeline = pipeline

    def probability(self, features: Features) -> float:
        """P(this lead converts)."""
        proba = self.pipeline.predict_proba_one(features)
        return float(proba.get(True, 0.0))

    def learn(self, features: Features, label: bool, weight: float) -> None:
        """One online update, weighted."""
        self.pipeline.learn_one(features, label, w=weight)

    def contributions(self, features: Features) -> dict[str, float]:
        """Each feature's additive share of the log-odds (weight × value, summed per feature)."""
        weights = self.pipeline[-1].weights
        shares: dict[str, float] = {}
        for key, value in vectorize(features).items():
            share = weights.get(key, 0.0) * value
            if share:
                name = feature_of(key)
                shares[name] = shares.get(name, 0.0) + share
        return shares

    def to_bytes(self) -> bytes:
        """Pickled, for snapshots."""
        return pickle.dumps(self.pipeline, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, blob: bytes) -> LeadModel:
        """Restore a snapshot written by :meth:`to_bytes` (our own data, never outside input)."""
        return cls(pickle.loads(blob))  # noqa: S301

    def copy(self) -> LeadModel:
        """An independent copy to learn on before a transaction commits."""
        return LeadModel.from_bytes(self.to_bytes())


def build_model() -> LeadModel:
    """A fresh model: the pipeline, then the priors."""
    pipeline = compose.FuncTransformer(vectorize) | linear_model.LogisticRegression(
        optimizer=optim.SGD(0.05), l2=0.001, intercept_lr=0.02
    )
    model = LeadModel(pipeline)
    for _ in range(PRIOR_EPOCHS):
        for features, label in PRIOR_EXAMPLES:
            model.learn(features, label, 1.0)
    return model
