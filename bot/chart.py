"""The digest's picture: open pipeline by stage beside the team's score distribution, as a PNG.

Drawn with matplotlib's object API on the Agg canvas (no display, no global pyplot state),
so it is safe to call from a worker thread.
"""

from __future__ import annotations

import io
from typing import Any

BAND_COLOURS = {"cold": "#8ecae6", "warm": "#ffb703", "hot": "#fb8500"}


def _label(text: str, limit: int = 24) -> str:
    """Outside text as a literal tick label: cut, and no math mode from a stray ``$``."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return cut.replace("$", r"\$")


def _band(score: int, bands: dict[str, int]) -> str:
    return "hot" if score >= bands["hot"] else "warm" if score >= bands["warm"] else "cold"


def has_chart(payload: dict[str, Any]) -> bool:
    """Whether the digest has anything worth drawing."""
    return bool(payload["pipeline"]) or any(payload["score_bins"])


def render_chart(payload: dict[str, Any]) -> bytes:
    """A PNG of the digest's pipeline (amount, else count, per stage) and score histogram."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # heavy: only when drawing
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    pipeline_axes, scores_axes = figure.subplots(1, 2)
    stages = payload["pipeline"]
    by_amount = any(stage["amount"] for stage in stages)
    values = [stage["amount"] if by_amount else stage["count"] for stage in stages]
    positions = list(range(len(stages)))
    pipeline_axes.barh(positions, values, color="#1d3557")
    pipeline_axes.set_yticks(positions, [_label(str(stage["stage"])) for stage in stages])
    pipeline_axes.invert_yaxis()
    pipeline_axes.set_title("Open pipeline by stage")
    pipeline_axes.set_xlabel("amount" if by_amount else "deals")
    if not stages:
        pipeline_axes.text(
            0.5, 0.5, "no open deals", ha="center", transform=pipeline_axes.transAxes
        )
    bins, bands = payload["score_bins"], payload["bands"]
    colours = [BAND_COLOURS[_band(n * 10, bands)] for n in range(len(bins))]
    scores_axes.bar([n * 10 + 5 for n in range(len(bins))], bins, width=9, color=colours)
    scores_axes.set_xlim(0, 100)
    scores_axes.set_title("Lead scores")
    scores_axes.set_xlabel("score")
    scores_axes.set_ylabel("leads")
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
