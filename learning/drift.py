"""Drift (C3.4): ADWIN on the model's error stream over outcomes, and what changed.

The monitor lives inside the model's pickled state (:class:`learning.pipeline.LeadModel`),
so a replay of the learning log reproduces every detection exactly. It is fed only by
outcome updates (won/lost and imported outcomes), never by emoji feedback: the error is
``|label - p|`` with ``p`` the model's probability *before* it learns the example.

The error rates before and after are the means of the part ADWIN dropped and of the window
it kept (ADWIN cuts at bucket boundaries, so the kept window may still hold older errors).
Only a rise of the error is reported as drift: when ADWIN cuts its window because the
error fell (the model got better, e.g. after adapting), the old part is dropped silently.

>>> monitor = DriftMonitor()
>>> reports = [monitor.observe(0.1 if n < 400 else 0.9, {"w": n / 100}) for n in range(600)]
>>> found = [r for r in reports if r is not None]
>>> len(found), found[0].outcomes, found[0].error_before < found[0].error_after
(1, 416, True)
>>> found[0].changed
('w',)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from river import drift

DETECTOR = "adwin"
CHANGED_OVER = 50
""""What changed" compares the weights with those of about this many outcome updates ago."""
_KEEP_EVERY = 10
CHANGED_TOP = 3


@dataclass(frozen=True, slots=True)
class DriftReport:
    """A rise of the error rate, measured on ADWIN's windows, and the weights that moved most.

    ``changed`` names model inputs only (a feature, or ``feature=category``), never people.
    """

    detector: str
    outcomes: int
    error_before: float
    error_after: float
    window_before: int
    window_after: int
    changed: tuple[str, ...]

    def detail(self) -> dict[str, Any]:
        """The JSON stored in a :class:`models.learning.DriftEvent` row."""
        return {
            "outcomes": self.outcomes,
            "error_before": round(self.error_before, 4),
            "error_after": round(self.error_after, 4),
            "window_before": self.window_before,
            "window_after": self.window_after,
            "changed": list(self.changed),
            "changed_over": CHANGED_OVER,
            "adaptation": "step size schedule restarted",
        }


class DriftMonitor:
    """ADWIN on absolute errors, plus a short history of weights to tell what changed."""

    def __init__(self, *, delta: float = 0.002, clock: int = 8) -> None:
        self.detector = drift.ADWIN(delta=delta, clock=clock)  # type: ignore[no-untyped-call]
        self.outcomes = 0
        self.detections = 0
        self._weights: deque[dict[str, float]] = deque(maxlen=CHANGED_OVER // _KEEP_EVERY)

    def observe(self, error: float, weights: Mapping[str, float]) -> DriftReport | None:
        """Count one outcome's error; a report when the error rate has risen."""
        width, total = int(self.detector.width), float(self.detector.total)
        self.detector.update(error)  # type: ignore[no-untyped-call]
        self.outcomes += 1
        report = None
        if self.detector.drift_detected:
            kept, kept_total = int(self.detector.width), float(self.detector.total)
            dropped = width + 1 - kept
            before = (total + error - kept_total) / dropped if dropped > 0 else 0.0
            after = kept_total / kept if kept else 0.0
            if after > before:
                self.detections += 1
                report = DriftReport(
                    DETECTOR, self.outcomes, before, after, dropped, kept, self._moved(weights)
                )
        if self.outcomes % _KEEP_EVERY == 0:
            self._weights.append({str(k): float(v) for k, v in weights.items()})
        return report

    def _moved(self, weights: Mapping[str, float]) -> tuple[str, ...]:
        """The inputs whose weights moved most since the oldest kept weights."""
        old = self._weights[0] if self._weights else {}
        names = set(old) | {str(k) for k in weights}
        moves = {n: abs(float(weights.get(n, 0.0)) - old.get(n, 0.0)) for n in names}
        ranked = sorted((n for n in moves if moves[n] > 0.0), key=lambda n: (-moves[n], n))
        return tuple(ranked[:CHANGED_TOP])
