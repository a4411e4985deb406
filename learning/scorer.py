"""The one owner of a workspace's live model: scores, and learns under a lock.

Learning happens on a private copy; the copy becomes the live model only when the
transaction that logged the update has committed, so the live model always equals a
replay of the learning log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from learning.drift import DriftReport
from learning.explain import Reasons, best_action, explain
from learning.features import Features
from learning.pipeline import LeadModel
from models.config import ScoringConfig


@dataclass(frozen=True, slots=True)
class Step:
    """One staged update: the new version, the probability before it, and drift if detected."""

    version: int
    predicted: float
    drift: DriftReport | None


@dataclass(frozen=True, slots=True)
class Score:
    """A lead's score with its band, confidence, reasons and the best next action."""

    value: int
    band: str
    low_confidence: bool
    reasons: Reasons
    action: tuple[str, int] | None
    model_version: int


def band_of(value: int, config: ScoringConfig) -> str:
    """hot, warm or cold from the thresholds in app.yaml."""
    if value >= config.hot:
        return "hot"
    return "warm" if value >= config.warm else "cold"


class PendingUpdate:
    """Updates staged on a copy of the model, adopted only if the block exits cleanly."""

    def __init__(self, scorer: Scorer) -> None:
        self.model = scorer.model.copy()
        self.version = scorer.version
        self.outcomes_seen = scorer.outcomes_seen
        self._config = scorer.config

    def learn(self, features: Features, label: bool, weight: float, *, outcome: bool) -> int:
        """Learn one example on the staged model; returns the new model version."""
        return self.step(features, label, weight, outcome=outcome).version

    def step(self, features: Features, label: bool, weight: float, *, outcome: bool) -> Step:
        """Learn one example on the staged model; what :meth:`learn` does, reported in full.

        Outcomes feed the drift monitor inside the model; ``drift`` is its report, if any.
        """
        learned = self.model.update(features, label, weight, outcome=outcome)
        self.version += 1
        self.outcomes_seen += int(outcome)
        return Step(self.version, learned.predicted, learned.drift)

    def as_scorer(self) -> Scorer:
        """A scorer over the staged model, to show what the update changes."""
        return Scorer(
            self.model,
            version=self.version,
            outcomes_seen=self.outcomes_seen,
            config=self._config,
        )


Refresh = Callable[["Scorer"], Awaitable[None]]
"""Brings a scorer up to date with updates other workers logged; runs under its lock."""


class Scorer:
    """Scores leads with the live model; learning goes through :meth:`update`."""

    def __init__(
        self, model: LeadModel, *, version: int, outcomes_seen: int, config: ScoringConfig
    ) -> None:
        self.model = model
        self.version = version
        self.outcomes_seen = outcomes_seen
        self.config = config
        self.log_cursor: int | None = None
        """The newest learning-log id this model is known to include (None: not looked up)."""
        self._lock = asyncio.Lock()

    def score(self, features: Features) -> Score:
        """Score, band, reasons and next action for one lead."""
        vector = self.model.encode(features)
        value = round(self.model.probability_of(vector) * 100)
        return Score(
            value=value,
            band=band_of(value, self.config),
            low_confidence=self.outcomes_seen < self.config.min_outcomes,
            reasons=explain(self.model, features, limit=self.config.reasons, vector=vector),
            action=best_action(self.model, features, vector),
            model_version=self.version,
        )

    async def refresh(self, catch_up: Refresh) -> None:
        """Apply what other workers learned; skipped during an update, which catches up itself."""
        if self._lock.locked():
            return
        async with self._lock:
            await catch_up(self)

    @asynccontextmanager
    async def update(self, catch_up: Refresh | None = None) -> AsyncIterator[PendingUpdate]:
        """Stage updates; commit your transaction inside the block, then they go live.

        ``catch_up`` first applies updates other workers logged, so the staged model
        continues the learning log rather than forking it.
        """
        async with self._lock:
            if catch_up is not None:
                await catch_up(self)
            pending = PendingUpdate(self)
            yield pending
            self.model = pending.model
            self.version = pending.version
            self.outcomes_seen = pending.outcomes_seen
