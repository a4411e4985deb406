"""Backtest (C3.6): replay a table of historical leads through the production learner.

Rows stream from the file in order (one counting pass, then one pass per method; only
scores and labels are kept), test-then-train: each row is scored before it is learned.
Baselines: the static :data:`RULES` score, and the same learner trained once on the first
70% and then frozen. Metrics are our own and exact: ROC AUC from average ranks, log loss
with probabilities clipped at 1e-15, lift with ties at the cut shared pro rata.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from learning.features import Features
from learning.pipeline import LeadModel, build_pipeline

POSITIVE = frozenset({"yes", "1", "true"})
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})
BLOCK = 1000
TRAIN_SHARE = 0.7
Stream = Iterable[tuple[Features, bool]]


class BacktestError(ValueError):
    """The table cannot be backtested as asked (say why, in words for the user)."""


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Exact ROC AUC (Mann-Whitney, ties count half); None with a single class.

    >>> auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    0.75
    >>> auc([0.5, 0.5, 0.5], [True, False, False]), auc([1.0, 2.0], [True, True])
    (0.5, None)
    >>> auc([3.0, 1.0, 2.0, 2.0], [True, False, True, False])
    0.875
    """
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    rank_sum, below = 0.0, 0
    for _, group in groupby(sorted(zip(scores, labels, strict=True)), key=itemgetter(0)):
        tied = [label for _, label in group]
        rank_sum += sum(tied) * (2 * below + len(tied) + 1) / 2  # the tie's average rank
        below += len(tied)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def log_loss(probabilities: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Mean negative log-likelihood.

    >>> round(log_loss([0.8, 0.4], [True, False]), 4)
    0.367
    """
    likelihoods = (p if y else 1 - p for p, y in zip(probabilities, labels, strict=True))
    total = sum(math.log(min(max(q, 1e-15), 1.0)) for q in likelihoods)
    return -total / len(labels) if labels else None


def lift(scores: Sequence[float], labels: Sequence[bool], share: float = 0.1) -> float | None:
    """Positive rate in the top ``share`` of scores over the overall rate.

    Rows tied with the last one taken count in proportion, as a random tie-break would.

    >>> lift([0.9, 0.1, 0.2, 0.3], [True, False, False, False], share=0.25)
    4.0
    >>> lift([1.0, 1.0, 0.0, 0.0], [True, False, False, False], share=0.25)
    2.0
    """
    base = sum(labels) / len(labels) if labels else 0.0
    if not base:
        return None
    take = max(1, math.ceil(share * len(scores)))
    cut = sorted(scores, reverse=True)[take - 1]
    above = [y for s, y in zip(scores, labels, strict=True) if s > cut]
    tied = [y for s, y in zip(scores, labels, strict=True) if s == cut]
    hits = sum(above) + (take - len(above)) * sum(tied) / len(tied)
    return hits / take / base


def calibration(
    probabilities: Sequence[float], labels: Sequence[bool], bins: int = 10
) -> list[dict[str, float]]:
    """Equal-count bins by predicted probability: mean prediction vs observed rate.

    >>> for row in calibration([0.1, 0.2, 0.7, 0.9], [False, False, True, False], bins=2):
    ...     print(row)
    {'predicted': 0.15, 'observed': 0.0, 'rows': 2}
    {'predicted': 0.8, 'observed': 0.5, 'rows': 2}
    """
    order = sorted(range(len(probabilities)), key=probabilities.__getitem__)
    table = []
    for k in range(bins):
        chunk = order[k * len(order) // bins : (k + 1) * len(order) // bins]
        if chunk:
            predicted = round(sum(probabilities[i] for i in chunk) / len(chunk), 4)
            observed = round(sum(labels[i] for i in chunk) / len(chunk), 4)
            table.append({"predicted": predicted, "observed": observed, "rows": len(chunk)})
    return table


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV to replay: its dialect, columns, kinds and size, from one counting pass."""

    path: Path
    delimiter: str
    header: tuple[str, ...]
    label: int
    keep: tuple[int, ...]
    numeric: frozenset[int]
    positive: frozenset[str]
    rows: int

    def stream(self) -> Iterator[tuple[Features, bool]]:
        """(features, label) per row in file order; missing cells are left out."""
        for cells in _cells(self.path, self.delimiter, len(self.header), self.label):
            features: Features = {
                self.header[i]: float(cells[i]) if i in self.numeric else cells[i]
                for i in self.keep
                if cells[i].lower() not in MISSING
            }
            yield features, cells[self.label].lower() in self.positive


def _cells(path: Path, delimiter: str, width: int, label: int) -> Iterator[list[str]]:
    """Stripped cells of each data row that has every column and a label."""
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file, delimiter=delimiter)
        next(reader, None)
        for cells in reader:
            if len(cells) == width and cells[label].strip().lower() not in MISSING:
                yield [cell.strip() for cell in cells]


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return cell.lower() in MISSING


def open_table(
    path: Path, *, label: str, positive: str | None = None, drop: Iterable[str] = ()
) -> Table:
    """Sniff the delimiter, check the columns and type them: all-numeric columns are numbers."""
    with path.open(newline="", encoding="utf-8-sig") as file:
        try:
            delimiter = csv.Sniffer().sniff(file.read(65536), delimiters=";,").delimiter
        except csv.Error:
            delimiter = ","
        file.seek(0)
        header = tuple(name.strip() for name in next(csv.reader(file, delimiter=delimiter), []))
    dropped = {name.strip() for name in drop if name.strip()}
    for name in sorted(dropped | {label}):
        if name not in header:
            raise BacktestError(f"no column {name!r} in {path}; columns: {', '.join(header)}")
    target = header.index(label)
    keep = tuple(i for i, name in enumerate(header) if name not in dropped and i != target)
    numeric, values, rows = set(keep), set[str](), 0
    for cells in _cells(path, delimiter, len(header), target):
        rows += 1
        if len(values) < 100:
            values.add(cells[target].lower())
        numeric -= {i for i in numeric if not _is_number(cells[i])}
    wanted = frozenset({positive.strip().lower()}) if positive is not None else POSITIVE
    if not values & wanted or not values - wanted:
        seen, wants = ", ".join(sorted(values)[:10]) or "nothing", ", ".join(sorted(wanted))
        raise BacktestError(
            f"label column {label!r} needs positive ({wants}) and other values; it has: {seen}"
        )
    return Table(path, delimiter, header, target, keep, frozenset(numeric), wanted, rows)


@dataclass(frozen=True, slots=True)
class Rule:
    """A hand-written rule: points when a column says so."""

    column: str
    points: int
    says: str
    test: Callable[[float | str], bool]


def _above(limit: float) -> Callable[[float | str], bool]:
    return lambda value: not isinstance(value, str) and value > limit


def _is(*words: str) -> Callable[[float | str], bool]:
    return lambda value: isinstance(value, str) and value.lower() in words


# The static score a sales team uses without ML, written from common sense and fitted to
# nothing (no label is read): for Nudge's own CRM features and for classic campaign lists.
# Only rules whose column is in the table apply; with none, every row scores 0 (AUC 0.5).
RULES: tuple[Rule, ...] = (
    Rule("meetings_30d", 3, "a meeting in the last 30 days", _above(0)),
    Rule("pricing_visits_30d", 2, "visited the pricing page", _above(0)),
    Rule("reply_rate_90d", 2, "replies to at least half our emails", _above(0.49)),
    Rule("unanswered_streak", -2, "ignored our last 2+ emails", _above(1)),
    Rule("seniority", 1, "VP or C-level", _is("vp", "c_level")),
    Rule("poutcome", 3, "said yes in the previous campaign", _is("success")),
    Rule("previous", 1, "contacted in an earlier campaign", _above(0)),
    Rule("contact", 1, "reachable on a mobile phone", _is("cellular")),
    Rule("campaign", -1, "already called 4+ times in this campaign", _above(3)),
)


def rule_score(features: Features, rules: Sequence[Rule] = RULES) -> float:
    """The static score: the sum of the points of the rules that hold.

    >>> rule_score({"poutcome": "success", "campaign": 5.0, "contact": "telephone"})
    2.0
    """
    values = ((r, features.get(r.column)) for r in rules)
    return float(sum(r.points for r, v in values if v is not None and r.test(v)))


@dataclass(frozen=True, slots=True)
class Run:
    """Scores of one method over the stream, from row ``start`` on, and the time it took."""

    scores: list[float]
    labels: list[bool]
    start: int
    seconds: float


def replay(stream: Stream, model: LeadModel | None, frozen_at: int | None = None) -> Run:
    """Test-then-train: score each row, then learn it; rules score without learning.

    With ``frozen_at``, learn the rows before it only and score the rows from it on.
    """
    start, stop = (0, math.inf) if frozen_at is None else (frozen_at, frozen_at)
    scores, labels, began = [], [], time.perf_counter()
    for row, (features, label) in enumerate(stream):
        if row >= start:
            scores.append(rule_score(features) if model is None else model.probability(features))
            labels.append(label)
        if model is not None and row < stop:
            model.learn(features, label, 1.0)
    return Run(scores, labels, start, time.perf_counter() - began)


def figures(run: Run, *, probabilities: bool = True) -> dict[str, Any]:
    """The report of one run: AUC (whole, last 30%), log loss, lift, calibration, speed.

    Lift and calibration are over the last 30%; ``rows_per_s`` counts every row streamed.
    """
    rows = run.start + len(run.scores)
    tail = max(0, int(rows * TRAIN_SHARE) - run.start)
    scores, labels = run.scores[tail:], run.labels[tail:]
    whole = run.start == 0
    return {
        "auc": auc(run.scores, run.labels) if whole else None,
        "auc_last30": auc(scores, labels),
        "log_loss": log_loss(run.scores, run.labels) if whole and probabilities else None,
        "log_loss_last30": log_loss(scores, labels) if probabilities else None,
        "lift_top10": lift(scores, labels),
        "calibration": calibration(scores, labels) if probabilities else None,
        "rows": len(run.scores),
        "rows_per_s": rows / run.seconds if run.seconds else None,
        "auc_by_1000": [  # each full block of 1,000 scored rows, by the row it ends at
            [run.start + i, auc(run.scores[i - BLOCK : i], run.labels[i - BLOCK : i])]
            for i in range(BLOCK, len(run.scores) + 1, BLOCK)
        ],
    }


def backtest(table: Table) -> dict[str, Any]:
    """Production learner, frozen-70% learner and rule score over ``table``, as one report."""
    cut = int(table.rows * TRAIN_SHARE)
    production = figures(replay(table.stream(), LeadModel(build_pipeline())))
    once = replay(table.stream(), LeadModel(build_pipeline()), frozen_at=cut)
    rules = figures(replay(table.stream(), None), probabilities=False)
    columns = [table.header[i] for i in table.keep]
    used = [f"{r.points:+d} {r.says} ({r.column})" for r in RULES if r.column in columns]
    return production | {
        "label": table.header[table.label],
        "positive": sorted(table.positive),
        "columns": columns,
        "numeric": sorted(table.header[i] for i in table.numeric),
        "baselines": {
            "frozen_70": figures(once) | {"trained_rows": cut},
            "rules": rules | {"rules": used},
        },
    }
