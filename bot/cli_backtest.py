"""``nudge backtest``: replay historical leads through the production learner (C3.6)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from learning.backtest import BacktestError, backtest, open_table

METHODS = (("production", "prequential"), ("frozen_70", "trained once on 70%"), ("rules", "rules"))
ROWS = (
    ("auc", "ROC AUC, whole stream"),
    ("auc_last30", "ROC AUC, last 30%"),
    ("log_loss", "log loss, whole stream"),
    ("log_loss_last30", "log loss, last 30%"),
    ("lift_top10", "lift in top 10% (last 30%)"),
    ("rows", "rows scored"),
    ("rows_per_s", "rows per second"),
)


def _methods(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"production": report, **report["baselines"]}


def _cell(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3f}"


def render(report: dict[str, Any], console: Console) -> None:
    """The report as two tables: the three methods side by side, then calibration."""
    methods = _methods(report)
    table = RichTable(title=f"Backtest of {report['label']!r}: test-then-train in file order")
    table.add_column("")
    for _, title in METHODS:
        table.add_column(title, justify="right")
    for key, label in ROWS:
        table.add_row(label, *(_cell(methods[name][key]) for name, _ in METHODS))
    console.print(table)
    rules = report["baselines"]["rules"]["rules"]
    console.print("rules: " + ("; ".join(rules) if rules else "no rule applies to these columns"))
    calibration = RichTable(title="Calibration, last 30% (deciles of the prediction)")
    for title in ("mean predicted", "observed rate", "rows"):
        calibration.add_column(title, justify="right")
    for decile in report["calibration"]:
        calibration.add_row(
            f"{decile['predicted']:.3f}", f"{decile['observed']:.3f}", str(decile["rows"])
        )
    console.print(calibration)


def plot(report: dict[str, Any], path: Path) -> None:
    """AUC per block of 1,000 rows over time, and the calibration curves, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (over_time, calibration) = pyplot.subplots(1, 2, figsize=(12, 4.8))
    for name, title in METHODS:
        points = [(end, value) for end, value in _methods(report)[name]["auc_by_1000"] if value]
        over_time.plot(*zip(*points, strict=True), marker=".", label=title)
    cut = report["baselines"]["frozen_70"]["trained_rows"]
    over_time.axvline(cut, color="grey", linestyle=":", label="70% (frozen model stops)")
    over_time.axhline(0.5, color="grey", linewidth=0.5)
    over_time.set(xlabel="row (file order)", ylabel="ROC AUC of each 1,000 rows", ylim=(0, 1))
    over_time.set_title("AUC over time")
    over_time.legend(loc="lower left")
    for name, title in METHODS[:2]:
        bins = _methods(report)[name]["calibration"]
        xs, ys = [b["predicted"] for b in bins], [b["observed"] for b in bins]
        calibration.plot(xs, ys, marker="o", label=title)
    calibration.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    calibration.set(xlabel="mean predicted probability", ylabel="observed rate")
    calibration.set_title("Calibration, last 30% (deciles)")
    calibration.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    pyplot.close(figure)


def backtest_command(
    csv_path: Annotated[Path, typer.Argument(metavar="CSV", help="Historical leads, in order.")],
    label: Annotated[str, typer.Option(help="Column holding the outcome.")],
    positive: Annotated[
        str | None, typer.Option(help="Value of a positive outcome [default: yes, 1 or true].")
    ] = None,
    drop: Annotated[str, typer.Option(help="Columns to leave out, comma-separated.")] = "",
    plot_path: Annotated[
        Path | None, typer.Option("--plot", help="Draw AUC over time and calibration to a PNG.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replay a CSV through the production learner, test-then-train, against two baselines."""
    try:
        report = backtest(
            open_table(csv_path, label=label, positive=positive, drop=drop.split(","))
        )
    except (BacktestError, OSError, UnicodeDecodeError, csv.Error) as exc:
        typer.secho(f"nudge: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    if plot_path is not None:
        plot(report, plot_path)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        render(report, Console())


def register(app: typer.Typer) -> None:
    """Add ``backtest`` to the ``nudge`` command."""
    app.command("backtest")(backtest_command)
