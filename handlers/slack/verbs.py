"""The ``/crm`` verbs: each module that adds one calls :func:`verb` at import time.

A verb states the least role that may use it; it receives the runtime, the caller's Slack
user id and the rest of the command text, and returns what to answer privately: fallback
text and Block Kit blocks.
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
    role: str


VERBS: dict[str, Verb] = {}


def verb(name: str, usage: str, *, role: str = "rep") -> Callable[[VerbHandler], VerbHandler]:
    """Register ``handler`` as ``/crm <name>``; ``usage`` is its help line.

    ``role`` is the least role allowed to use it (``guest``, ``rep``, ``manager``, ``admin``);
    the dispatcher refuses anyone below it before the handler runs.
    """

    def register(handler: VerbHandler) -> VerbHandler:
        VERBS[name] = Verb(name=name, usage=usage, handler=handler, role=role)
        return handler

    return register
