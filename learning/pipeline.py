"""The River pipeline that scores leads, with priors so day one is already useful.

One factory, :func:`build_pipeline`, serves production and the backtest alike; production
adds the priors (:func:`build_model`), the backtest starts from nothing.

>>> model = build_model()
>>> hot = {"pricing_visits_7d": 3.0, "meetings_30d": 1.0, "reply_rate_90d": 1.0}
>>> cold = {"unanswered_streak": 4.0, "recency": 0.1}
>>> model.probability(hot) > 0.5 > model.probability(cold)
True
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple, cast

from river import base, compose, linear_model, optim

from learning.drift import DriftMonitor, DriftReport
from learning.features import FEATURES, Features

_AS_IS = frozenset({"reply_rate_90d", "reply_speed", "title_changed_90d"})
_IGNORED_CATEGORIES = frozenset({"unknown", "other", ""})
Z_LIMIT = 5.0
Vector = dict[Hashable, Any]


def vectorize(features: Mapping[str, float | str]) -> dict[str, float]:
    """The fixed part of the encoding: CRM numbers on a log scale, categories one-hot.

    Unknown categories carry no weight; numbers the CRM does not know (backtest columns)
    are left to :class:`Encoder`'s running scaler.

    >>> vectorize({"emails_in_7d": 0.0, "seniority": "vp", "industry": "unknown", "age": 40.0})
    {'emails_in_7d': 0.0, 'seniority=vp': 1.0}
    """
    vector: dict[str, float] = {}
    for name, value in features.items():
        if isinstance(value, str):
            if value not in _IGNORED_CATEGORIES:
                vector[f"{name}={value}"] = 1.0
        elif name in _AS_IS:
            vector[name] = float(value)
        elif name in FEATURES:
            vector[name] = math.log1p(max(0.0, float(value)))
    return vector


def feature_of(vector_key: str) -> str:
    """The feature a vector entry came from.

    >>> feature_of("seniority=vp")
    'seniority'
    """
    return vector_key.split("=", 1)[0]


class Moments:
    """Running mean and variance of one column (Welford), to standardize it."""

    __slots__ = ("m2", "mean", "n")

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, value: float) -> None:
        """Count one more value."""
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)

    def z(self, value: float) -> float:
        """``value`` in standard deviations from the mean, clipped to ±Z_LIMIT (0 until known).

        >>> moments = Moments()
        >>> for v in (1.0, 2.0, 3.0):
        ...     moments.update(v)
        >>> moments.z(3.0), moments.z(1e9)
        (1.0, 5.0)
        """
        if self.n < 2 or self.m2 <= 0.0:
            return 0.0
        z = (value - self.mean) / math.sqrt(self.m2 / (self.n - 1))
        return max(-Z_LIMIT, min(Z_LIMIT, z))


class Encoder(base.Transformer):
    """:func:`vectorize`, plus other numbers standardized by their running moments.

    The moments learn in ``learn_one`` only, so a row is encoded before it is counted.

    >>> encoder = Encoder()
    >>> for age in (30.0, 40.0, 50.0):
    ...     encoder.learn_one({"age": age, "job": "admin"})
    >>> encoder.transform_one({"age": 60.0, "job": "admin", "meetings_30d": 0.0})
    {'job=admin': 1.0, 'meetings_30d': 0.0, 'age': 2.0}
    """

    def __init__(self) -> None:
        self.moments: dict[str, Moments] = {}

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        """Update the moments of the columns the CRM does not know."""
        for name, value in x.items():
            if not isinstance(value, str) and name not in FEATURES:
                self.moments.setdefault(str(name), Moments()).update(float(value))

    def transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        """The vector the model sees."""
        vector = cast(dict[Hashable, Any], vectorize(cast(Features, x)))
        for name, value in x.items():
            if not isinstance(value, str) and name not in FEATURES:
                moments = self.moments.get(str(name))
                vector[name] = moments.z(float(value)) if moments else 0.0
        return vector


class StepSize(optim.base.Scheduler):
    """SGD step: large for the first examples, shrinking to a floor as evidence accumulates.

    The floor keeps the model tracking drift (C3.4); measured on bank-marketing (P4).

    >>> step = StepSize()
    >>> step.get(0), round(step.get(300), 4), round(step.get(10**9), 4)
    (0.05, 0.0275, 0.005)
    """

    def __init__(self, start: float = 0.05, floor: float = 0.005, half_life: int = 300) -> None:
        self.start, self.floor, self.half_life = start, floor, half_life

    def get(self, t: int) -> float:
        """The step at update ``t``."""
        return self.floor + (self.start - self.floor) * self.half_life / (self.half_life + t)


def build_pipeline() -> compose.Pipeline:
    """Encoder → logistic regression: the one learner of production and backtest."""
    return Encoder() | linear_model.LogisticRegression(
        optimizer=optim.SGD(StepSize()), l2=0.001, intercept_lr=0.02
    )


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
    (dict(meetings_upcoming=1, form_fills_90d=1, webinars_90d=1, web_visits_30d=3,
          recency=0.9), _HOT),
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
PIPELINE_VERSION = 3
"""Bumped whenever the pipeline, its priors or its drift monitor change: older snapshots are
then replayed (3: the drift monitor joined the pickled state)."""


class Learned(NamedTuple):
    """What one tracked update saw: the probability before it, and drift if any."""

    predicted: float
    drift: DriftReport | None


class LeadModel:
    """A River pipeline (encoder → logistic regression) with the few views Nudge needs.

    Its state includes the :class:`~learning.drift.DriftMonitor`, so replaying the learning
    log through :meth:`update` reproduces detections and the adaptations they caused.
    """

    def __init__(self, pipeline: compose.Pipeline, drift: DriftMonitor | None = None) -> None:
        self.pipeline = pipeline
        self.drift = drift if drift is not None else DriftMonitor()

    def probability(self, features: Features) -> float:
        """P(this lead converts)."""
        return self.probability_of(self.encode(features))

    def encode(self, features: Features) -> Vector:
        """The vector the classifier sees for these features (encode once, ask many times)."""
        vector: Vector = self.pipeline.transform_one(features)
        return vector

    def probability_of(self, vector: Vector) -> float:
        """P(converts) for an encoded lead (see :meth:`encode`)."""
        return float(self.pipeline[-1].predict_proba_one(vector).get(True, 0.0))

    def learn(self, features: Features, label: bool, weight: float) -> None:
        """One online update, weighted."""
        self.pipeline.learn_one(features, label, w=weight)

    def update(self, features: Features, label: bool, weight: float, *, outcome: bool) -> Learned:
        """Learn one logged example; outcomes also feed the drift monitor (test, then train).

        On drift the SGD step schedule restarts (:class:`StepSize` from its start), so the
        examples after the change weigh more than the long history before it.
        """
        predicted = self.probability(features)
        self.learn(features, label, weight)
        report = None
        if outcome:
            error = abs(float(label) - predicted)
            report = self.drift.observe(error, self.pipeline[-1].weights)
            if report is not None:
                self.pipeline[-1].optimizer.n_iterations = 0
        return Learned(predicted, report)

    def weights(self) -> dict[str, float]:
        """The logistic regression's weights by model input (a copy)."""
        return {str(k): float(v) for k, v in self.pipeline[-1].weights.items()}

    def contributions(self, features: Features, vector: Vector | None = None) -> dict[str, float]:
        """Each feature's additive share of the log-odds (weight × encoded value, per feature).

        Standardized columns count from their running mean; CRM features from zero.
        ``vector`` is the features already encoded, if the caller has it.
        """
        weights = self.pipeline[-1].weights
        shares: dict[str, float] = {}
        for key, value in (vector if vector is not None else self.encode(features)).items():
            share = weights.get(key, 0.0) * value
            if share:
                name = feature_of(str(key))
                shares[name] = shares.get(name, 0.0) + share
        return shares

    def to_bytes(self) -> bytes:
        """Pickled, for snapshots."""
        state = (self.pipeline, self.drift)
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, blob: bytes) -> LeadModel:
        """Restore a snapshot written by :meth:`to_bytes` (our own data, never outside input).

        A blob of pipeline version 2 holds the bare pipeline; it gets a fresh monitor.
        """
        state = pickle.loads(blob)  # noqa: S301
        if isinstance(state, tuple):
            return cls(*state)
        return cls(state)

    def copy(self) -> LeadModel:
        """An independent copy to learn on before a transaction commits."""
        return LeadModel.from_bytes(self.to_bytes())


def build_model() -> LeadModel:
    """A fresh production model: the pipeline, then the priors."""
    model = LeadModel(build_pipeline())
    for _ in range(PRIOR_EPOCHS):
        for features, label in PRIOR_EXAMPLES:
            model.learn(features, label, 1.0)
    return model
