"""`nudge demo` runs the sample company end to end and can run twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

SUMMARY = re.compile(
    r"^demo: (\d+) activities, (\d+) contacts, (\d+) nudges, (\d+) feedback updates, "
    r"ranking AUC (\d\.\d\d)$",
    re.MULTILINE,
)


@pytest.mark.slow
def test_demo_shows_nudges_with_evidence_and_runs_twice(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    for _ in range(2):
        result = CliRunner().invoke(app, ["demo", "--database", str(database)])
        assert result.exit_code == 0, result.output
        match = SUMMARY.search(result.output)
        assert match is not None, result.output[-2000:]
        activities, contacts, nudges, feedback = (int(g) for g in match.groups()[:4])
        assert activities > 500
        assert contacts == 60
        assert nudges >= 5
        assert feedback >= 1
        assert float(match.group(5)) > 0.6
    assert result.output.count("lead: ") >= 5
    assert "Automated by Nudge" in result.output
    assert re.search(
        r"visited the pricing page \d+× in \d+ days|replies within \d+ hour", result.output
    )
