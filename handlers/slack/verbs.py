"""The ``/crm`` verbs: each module that adds one calls :func:`verb` at import time.

A verb receives the runtime, the caller's Slack user id and the rest of the command text,
and returns what to answer privately: fallback text and Block Kit blocks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.runtime import Runtime

Answer = tuple[str, list[dict[str, Any]]]
VerbHandler = Callable[[Runtime, str, str], Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class Verb:
    """One ``/crm`` verb: its handler and the line ``/crm help`` shows for it."""

    name: str
    usage: str
    handler: VerbHandler


VERBS: dict[str, Verb] = {}


def verb(name: str, usage: str) -> Callable[[VerbHandler], VerbHandler]:
    """Register ``handler`` as ``/crm <name>``; ``usage`` is its help line."""

    def register(handler: VerbHandler) -> VerbHandler:
        VERBS[name] = Verb(name=name, usage=usage, handler=handler)
        return handler

    return register
