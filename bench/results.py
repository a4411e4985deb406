"""Measured figures go to bench/results.json, each beside its goal and the machine."""

from __future__ import annotations

import json
import os
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def summary(samples: list[float]) -> dict[str, float]:
    """Median and p99 of repeated measurements.

    >>> summary([1.0, 2.0, 3.0])
    {'median': 2.0, 'p99': 3.0, 'runs': 3}
    """
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p99": p99, "runs": len(ordered)}


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    return {
        "python": platform.python_version(),
        "system": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }


def record(name: str, figures: dict[str, Any]) -> None:
    """Merge one benchmark's figures into results.json."""
    document: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    document[name] = figures | {"measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    document["machine"] = machine()
    RESULTS.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
