"""Slack listeners, one module per surface; each exposes ``register(app)``."""

from __future__ import annotations

from typing import Any

from bot.runtime import Runtime


def runtime_of(context: dict[str, Any]) -> Runtime:
    """The runtime the Bolt middleware put into the listener's context."""
    runtime = context["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime
