"""Hypothesis settings for the property tests: bounded runs, reproducible in CI.

``CI`` set: the examples are derandomized (the same every run) so a failure in CI is a
failure on every machine. Locally they are random, so each run explores new input. No
example database is written (the repository does not ignore ``.hypothesis/``); a failure
prints the blob that ``@reproduce_failure`` takes. ``HYPOTHESIS_PROFILE=thorough`` runs
ten times as many examples, for a longer hunt.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def _register(name: str, max_examples: int) -> None:
    settings.register_profile(
        name,
        max_examples=max_examples,
        deadline=None,  # a loaded 2-core machine makes per-example timing meaningless
        database=None,
        derandomize=bool(os.environ.get("CI")),
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


_register("nudge", 80)
_register("thorough", 800)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "nudge"))
