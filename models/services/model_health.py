"""Live model health for managers (C3.6): accuracy against outcomes, feedback, drift.

Accuracy, log loss, AUC and calibration are prequential: each outcome in the learning log
carries the probability the model gave it just *before* learning it (``predicted``), so
every figure is measured on examples the model had not yet seen.

>>> auc([0.9, 0.8, 0.3, 0.1], [True, False, True, False])
0.75
>>> auc([0.5], [True]) is None
True
>>> [row["count"] for row in calibration([0.05, 0.1, 0.95], [False, False, True])]
[2, 0, 0, 0, 1]
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from learning.store import OUTCOME_SOURCES
from models.feedback import Feedback
from models.learning import DriftEvent, LearningLogEntry

BINS = 5
LATEST_DRIFTS = 3
_EPS = 1e-15


def auc(predicted: list[float], labels: list[bool]) -> float | None:
    """ROC AUC by ranks (ties share their mean rank); None without both classes."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(predicted)), key=lambda i: predicted[i])
    ranks = [0.0] * len(predicted)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and predicted[order[end + 1]] == predicted[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    positive_ranks = sum(r for r, label in zip(ranks, labels, strict=True) if label)
    return (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def log_loss(predicted: list[float], labels: list[bool]) -> float | None:
    """Mean negative log-likelihood; None without examples."""
    if not predicted:
        return None
    total = 0.0
    for p, label in zip(predicted, labels, strict=True):
        p = min(1 - _EPS, max(_EPS, p))
        total -= math.log(p if label else 1 - p)
    return total / len(predicted)


def calibration(predicted: list[float], labels: list[bool]) -> list[dict[str, Any]]:
    """Five equal-width bins of predicted probability: count, mean predicted, rate won."""
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(BINS)]
    for p, label in zip(predicted, labels, strict=True):
        bins[min(BINS - 1, int(p * BINS))].append((p, label))
    table = []
    for n, rows in enumerate(bins):
        count = len(rows)
        table.append(
            {
                "low": n / BINS,
                "high": (n + 1) / BINS,
                "count": count,
                "predicted": sum(p for p, _ in rows) / count if count else None,
                "observed": sum(label for _, label in rows) / count if count else None,
            }
        )
    return table


async def model_health(
    *, session: AsyncSession, workspace_id: int, min_outcomes: int
) -> dict[str, Any]:
    """Version, outcomes, confidence, prequential accuracy, feedback counts and drift."""
    log = LearningLogEntry
    version, last_update = (
        await session.exec(
            select(func.max(log.model_version), func.max(log.created_at)).where(
                log.workspace_id == workspace_id
            )
        )
    ).one()
    outcome_rows = (
        await session.exec(
            select(log.predicted, log.label)
            .where(log.workspace_id == workspace_id, col(log.source).in_(OUTCOME_SOURCES))
            .order_by(col(log.id))
        )
    ).all()
    outcomes = len(outcome_rows)
    scored = [(float(p), bool(y)) for p, y in outcome_rows if p is not None]
    predicted = [p for p, _ in scored]
    labels = [y for _, y in scored]
    feedback = (
        await session.exec(
            select(Feedback.signal, func.count())
            .where(Feedback.workspace_id == workspace_id, col(Feedback.reversed_at).is_(None))
            .group_by(Feedback.signal)
        )
    ).all()
    drift_count = (
        await session.exec(
            select(func.count())
            .select_from(DriftEvent)
            .where(DriftEvent.workspace_id == workspace_id)
        )
    ).one()
    drifts = (
        await session.exec(
            select(DriftEvent)
            .where(DriftEvent.workspace_id == workspace_id)
            .order_by(col(DriftEvent.id).desc())
            .limit(LATEST_DRIFTS)
        )
    ).all()
    correct = sum((p >= 0.5) == y for p, y in scored)
    return {
        "model_version": int(version or 0),
        "outcomes": outcomes,
        "low_confidence": outcomes < min_outcomes,
        "min_outcomes": min_outcomes,
        "evaluated": len(scored),
        "accuracy": correct / len(scored) if scored else None,
        "log_loss": log_loss(predicted, labels),
        "auc": auc(predicted, labels),
        "calibration": calibration(predicted, labels),
        "feedback": {str(signal): int(n) for signal, n in feedback},
        "drift_count": int(drift_count),
        "drift": [
            {
                "model_version": event.model_version,
                "detector": event.detector,
                "detected_at": event.detected_at,
                "detail": dict(event.detail),
            }
            for event in drifts
        ],
        "last_update": last_update if isinstance(last_update, datetime) else None,
    }
