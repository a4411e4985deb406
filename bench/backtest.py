"""P4: learning quality on UCI bank-marketing in date order, ``duration`` dropped.

``python -m bench.backtest [--runs N]`` replays the file through the production learner
(``nudge backtest``) N times for the speed figures (quality is the same every run), then
once through each candidate pipeline that was weighed against it, and records all of it.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from river import (
    base,
    compose,
    ensemble,
    feature_extraction,
    forest,
    linear_model,
    naive_bayes,
    optim,
    preprocessing,
)

from bench.results import record, summary
from learning.backtest import backtest, figures, open_table, replay
from learning.pipeline import Encoder, LeadModel, build_pipeline

GOAL = 0.80
BANK = Path(__file__).resolve().parents[2] / "shared/data/bank-marketing/bank-additional-full.csv"
QUALITY = ("auc", "auc_last30", "log_loss", "log_loss_last30", "lift_top10")


def _one_hot(
    x: dict[Hashable, Any], scale: Callable[[float], float] = float
) -> dict[Hashable, Any]:
    """Strings one-hot, numbers through ``scale``."""
    return {
        (f"{k}={v}" if isinstance(v, str) else k): 1.0 if isinstance(v, str) else scale(v)
        for k, v in x.items()
    }


def _log_scaled(x: dict[Hashable, Any]) -> dict[Hashable, Any]:
    """The encoding production had before P4: numbers on log1p(max(0, x)), strings one-hot."""
    return _one_hot(x, lambda v: math.log1p(max(0.0, v)))


class Mean(base.Classifier):
    """The mean of several models' probabilities (a hybrid of unlike learners)."""

    def __init__(self, *models: compose.Pipeline) -> None:
        self.models = models

    def learn_one(self, x: dict[Hashable, Any], y: base.typing.ClfTarget, **_: Any) -> None:
        """Every member learns."""
        for model in self.models:
            model.learn_one(x, y)

    def predict_proba_one(
        self, x: dict[Hashable, Any], **_: Any
    ) -> dict[base.typing.ClfTarget, float]:
        """Averaged P(True)."""
        p = sum(m.predict_proba_one(x).get(True, 0.0) for m in self.models) / len(self.models)
        return {True: p, False: 1.0 - p}


def _lr(optimizer: optim.base.Optimizer | None = None) -> linear_model.LogisticRegression:
    return linear_model.LogisticRegression(optimizer=optimizer or optim.SGD(0.005))


def _encoded(learner: base.Estimator) -> compose.Pipeline:
    return Encoder() | learner


def _arf() -> compose.Pipeline:
    return compose.Pipeline(forest.ARFClassifier(n_models=10, seed=1))


def _before() -> compose.Pipeline:
    model = linear_model.LogisticRegression(optimizer=optim.SGD(0.05), l2=0.001, intercept_lr=0.02)
    return compose.FuncTransformer(_log_scaled) | model


def _river_union(scaler: base.Transformer) -> compose.Pipeline:
    """River's own parts: numbers through ``scaler``, strings one-hot, then LR."""
    numbers = compose.SelectType(int, float) | scaler
    union = numbers + (compose.SelectType(str) | preprocessing.OneHotEncoder())
    return compose.Pipeline(union, _lr())


def _interactions() -> compose.Pipeline:
    extender = feature_extraction.PolynomialExtender
    pairs = extender(2, interaction_only=True, include_bias=False)  # type: ignore[no-untyped-call]
    return Encoder() | pairs | _lr()


CANDIDATES: tuple[tuple[str, Callable[[], compose.Pipeline]], ...] = (
    ("chosen: build_pipeline() = Encoder | LR, SGD 0.05→0.005, l2 1e-3", build_pipeline),
    ("before P4: log1p numbers + one-hot | LR, SGD 0.05, l2 1e-3", _before),
    ("Encoder | LR, SGD 0.005 constant", lambda: _encoded(_lr())),
    ("Encoder | LR, SGD 0.05 constant", lambda: _encoded(_lr(optim.SGD(0.05)))),
    ("Encoder | LR, Adam 0.001", lambda: _encoded(_lr(optim.Adam(0.001)))),
    (
        "one-hot | StandardScaler | LR, SGD 0.005 (the scaler zeroes the one-hots)",
        lambda: compose.FuncTransformer(_one_hot) | preprocessing.StandardScaler() | _lr(),
    ),
    (
        "River StandardScaler + OneHotEncoder | LR, SGD 0.005",
        lambda: _river_union(preprocessing.StandardScaler()),
    ),
    (
        "River AdaptiveStandardScaler(0.001) + OneHotEncoder | LR, SGD 0.005",
        lambda: _river_union(preprocessing.AdaptiveStandardScaler(0.001)),  # type: ignore[no-untyped-call]
    ),
    ("Encoder | pairwise interactions | LR, SGD 0.005", _interactions),
    ("Encoder | GaussianNB", lambda: _encoded(naive_bayes.GaussianNB())),  # type: ignore[no-untyped-call]
    (
        "bagging: 5 × (Encoder | LR, SGD 0.005)",
        lambda: _encoded(ensemble.BaggingClassifier(_lr(), n_models=5, seed=1)),
    ),
    ("ARFClassifier, 10 trees, raw columns", _arf),
    (
        "hybrid: mean of (Encoder | LR, SGD 0.005) and ARF",
        lambda: compose.Pipeline(Mean(_encoded(_lr()), _arf())),
    ),
)


def _quality(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in QUALITY}


def _methods(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"production": report, **report["baselines"]}


def main() -> None:
    """Replay the bank file, print and record the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="replays for the speed figures")
    runs = parser.parse_args().runs
    path = Path(os.environ.get("NUDGE_BANK_CSV", BANK))
    table = open_table(path, label="y", drop=["duration"])
    per_run = [_methods(backtest(table)) for _ in range(runs)]
    first = per_run[0]
    results = {
        name: _quality(first[name])
        | {
            "rows_per_s": summary([run[name]["rows_per_s"] for run in per_run]),
            "same_every_run": all(_quality(run[name]) == _quality(first[name]) for run in per_run),
        }
        for name in first
    }
    candidates = []
    for label, factory in CANDIDATES:
        run = figures(replay(table.stream(), LeadModel(factory())))
        candidates.append({"pipeline": label} | {k: run[k] for k in (*QUALITY[:3], "rows_per_s")})
        print(candidates[-1], flush=True)
    record(
        "P4",
        {
            "goal": {"auc_last30": GOAL},
            "met": first["production"]["auc_last30"] >= GOAL,
            "data": f"{path.name}: {table.rows} rows in file order, duration dropped",
            "production": results.pop("production"),
            "baselines": results,
            "rules": first["rules"]["rules"],
            "candidates": candidates,
        },
    )
    print(first["production"]["auc_last30"], results)


if __name__ == "__main__":
    main()
