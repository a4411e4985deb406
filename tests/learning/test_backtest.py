"""The backtest (C3.6): prequential order, exact metrics, baselines and the command."""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.cli_backtest import register
from learning.backtest import auc, backtest, open_table, replay
from learning.pipeline import LeadModel, build_pipeline

BANK = Path(__file__).resolve().parents[3] / "shared/data/bank-marketing/bank-additional-full.csv"
KEYS = {"auc", "auc_last30", "log_loss", "lift_top10", "rows", "rows_per_s", "baselines"}


def write(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> Path:
    """``rows`` as a CSV file."""
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def synthetic(n: int = 3000, seed: int = 7) -> list[dict[str, Any]]:
    """Leads whose outcome follows ``signal`` and ``segment``; ``noise`` carries nothing."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        signal, segment = rng.gauss(50, 10), rng.choice(["a", "b", "c"])
        logit = (signal - 50) / 5 + {"a": 1.0, "b": 0.0, "c": -1.0}[segment] - 1
        won = rng.random() < 1 / (1 + math.exp(-logit))
        rows.append(
            {"signal": round(signal, 2), "segment": segment, "noise": rng.random(), "won": won}
        )
    return rows


def cli(*args: str) -> Any:
    """Run ``nudge backtest`` as registered by :func:`register`."""
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return CliRunner().invoke(app, ["backtest", *args])


def brute_auc(scores: list[float], labels: list[bool]) -> float:
    """AUC by counting every (positive, negative) pair, ties as half."""
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for (p, yp), (n, yn) in itertools.product(zip(scores, labels, strict=True), repeat=2)
        if yp and not yn
    ]
    return sum(pairs) / len(pairs)


def test_auc_is_exact_against_counting_every_pair() -> None:
    """Rank AUC equals the pair count, ties included, on small random cases."""
    assert auc([0.2, 0.8], [False, True]) == 1.0
    assert auc([0.8, 0.2], [False, True]) == 0.0
    assert auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    rng = random.Random(1)
    for _ in range(50):
        size = rng.randint(2, 30)
        scores = [float(rng.randint(0, 5)) for _ in range(size)]
        labels = [rng.random() < 0.4 for _ in range(size)]
        expected = brute_auc(scores, labels) if 0 < sum(labels) < size else None
        assert auc(scores, labels) == pytest.approx(expected)


def test_learns_a_known_signal_and_beats_the_frozen_and_rule_baselines(tmp_path: Path) -> None:
    """A clear signal is learned; no rule knows these columns, so the rule score is flat."""
    report = backtest(open_table(write(tmp_path / "leads.csv", synthetic()), label="won"))
    assert report["rows"] == 3000
    assert report["auc"] > 0.8
    assert report["auc_last30"] > 0.8
    assert report["numeric"] == ["noise", "signal"]
    rules = report["baselines"]["rules"]
    assert rules["rules"] == []
    assert rules["auc"] == rules["auc_last30"] == 0.5
    frozen = report["baselines"]["frozen_70"]
    assert frozen["rows"] == 900
    assert frozen["trained_rows"] == 2100
    assert frozen["auc_last30"] > 0.7


def test_a_row_is_scored_before_its_own_label_is_learned() -> None:
    """Changing the labels from row k on never changes the scores of rows up to k."""
    stream = [({k: v for k, v in r.items() if k != "won"}, r["won"]) for r in synthetic(400)]
    k = 200
    flipped = stream[:k] + [(f, not y) for f, y in stream[k:]]
    first = replay(stream, LeadModel(build_pipeline()))
    second = replay(flipped, LeadModel(build_pipeline()))
    assert first.scores[: k + 1] == second.scores[: k + 1]
    assert first.scores[k + 1 :] != second.scores[k + 1 :]


def test_the_next_rows_label_as_a_column_leaks_nothing(tmp_path: Path) -> None:
    """A column holding the NEXT row's label predicts nothing; the row's own label would."""
    rng = random.Random(3)
    labels = [rng.random() < 0.3 for _ in range(3001)]
    rows = [{"next": float(labels[i + 1]), "y": labels[i]} for i in range(3000)]
    report = backtest(open_table(write(tmp_path / "next.csv", rows), label="y"))
    assert abs(report["auc"] - 0.5) < 0.05
    own = [{"own": float(labels[i]), "y": labels[i]} for i in range(3000)]
    assert backtest(open_table(write(tmp_path / "own.csv", own), label="y"))["auc"] > 0.95


def test_the_frozen_baseline_never_learns_from_the_last_30_percent(tmp_path: Path) -> None:
    """Flip every label of the last 30%: the frozen scores stay, so its AUC becomes 1 - AUC."""
    rows = synthetic()
    flipped = rows[:2100] + [row | {"won": not row["won"]} for row in rows[2100:]]
    original = open_table(write(tmp_path / "a.csv", rows), label="won")
    changed = open_table(write(tmp_path / "b.csv", flipped), label="won")
    model_a, model_b = LeadModel(build_pipeline()), LeadModel(build_pipeline())
    assert (
        replay(original.stream(), model_a, frozen_at=2100).scores
        == replay(changed.stream(), model_b, frozen_at=2100).scores
    )
    assert model_a.to_bytes() == model_b.to_bytes()
    a = backtest(original)["baselines"]["frozen_70"]["auc_last30"]
    b = backtest(changed)["baselines"]["frozen_70"]["auc_last30"]
    assert b == pytest.approx(1 - a)


def test_json_has_the_promised_keys_and_drop_removes_columns(tmp_path: Path) -> None:
    """``--json`` prints one object; a dropped leak column no longer lifts the AUC."""
    rows = [row | {"leak": float(row["won"])} for row in synthetic(1500)]
    path = write(tmp_path / "leaky.csv", rows, delimiter=";")
    leaky = cli(str(path), "--label", "won", "--json")
    assert leaky.exit_code == 0, leaky.output
    report = json.loads(leaky.output)
    assert set(report) >= KEYS
    for baseline in report["baselines"].values():
        assert set(baseline) >= KEYS - {"baselines"}
    assert "leak" in report["columns"]
    assert report["auc"] > 0.97
    result = cli(str(path), "--label", "won", "--drop", "leak,noise", "--json")
    clean = json.loads(result.output)
    assert clean["columns"] == ["signal", "segment"]
    assert 0.7 < clean["auc"] < 0.95


def test_positive_value_and_readable_table(tmp_path: Path) -> None:
    """``--positive`` names the winning value; without ``--json`` a table is printed."""
    rows = [row | {"won": "closed won" if row["won"] else "lost"} for row in synthetic(500)]
    path = write(tmp_path / "deals.csv", rows)
    result = cli(str(path), "--label", "won", "--positive", "Closed Won")
    assert result.exit_code == 0, result.output
    assert "ROC AUC, last 30%" in result.output
    assert "no rule applies" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "nope"], "no column 'nope'"),
        (["--label", "segment"], "label column 'segment' needs positive"),
        (["--label", "won", "--positive", "maybe"], "needs positive (maybe)"),
        (["--label", "won", "--drop", "ghost"], "no column 'ghost'"),
    ],
)
def test_a_bad_label_or_column_is_a_clear_error(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Exit code 2 and a message naming the problem."""
    result = cli(str(write(tmp_path / "leads.csv", synthetic(50))), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_plot_is_a_png(tmp_path: Path) -> None:
    """``--plot`` writes a PNG (AUC over time and calibration)."""
    png = tmp_path / "backtest.png"
    path = write(tmp_path / "leads.csv", synthetic())
    result = cli(str(path), "--label", "won", "--plot", str(png), "--json")
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bank_marketing_head(tmp_path: Path) -> None:
    """The first 3,000 rows of the bank file: `;` sniffed, duration dropped, types found."""
    if not BANK.exists():
        pytest.skip(f"bank-marketing data not found at {BANK} (../shared/data is absent)")
    with BANK.open() as source:
        head = "".join(itertools.islice(source, 3001))
    path = tmp_path / "bank-head.csv"
    path.write_text(head)
    result = cli(str(path), "--label", "y", "--drop", "duration", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 3000
    assert "duration" not in report["columns"]
    assert {"age", "pdays", "euribor3m", "emp.var.rate"} <= set(report["numeric"])
    assert "job" in report["columns"]
    assert report["baselines"]["rules"]["rules"]
    assert 0.5 < report["auc"] < 1.0
