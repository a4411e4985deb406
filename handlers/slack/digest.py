"""``/crm digest``: the caller's digest, now, as a direct message (the daily run is untouched).

A manager gets their team's, an admin everyone's, a rep their own records'. The digest
goes through the outbox like the daily one, so it is posted once and retried; the
command answers privately that it is on its way.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.digest import send_digest_now, slack_client
from bot.runtime import Runtime
from handlers.blocks import automated_context, section
from handlers.slack.verbs import Answer, verb

EVENTS: tuple[str, ...] = ()
COMMANDS: tuple[str, ...] = ()
ACTIONS: tuple[str, ...] = ()
SCOPE_WORDS = {"everyone": "everyone's", "team": "your team's", "own": "your own records'"}


def _answer(text: str) -> Answer:
    return text, [section(text), automated_context()]


@verb("digest", "digest — your digest now, in a direct message (managers: your team's)")
async def handle_digest_verb(runtime: Runtime, user_id: str, args: str) -> Answer:
    """Queue the caller's digest and say so."""
    if args:
        return _answer("`/crm digest` takes no arguments: it sends your own digest.")
    scope = await send_digest_now(runtime, slack_client(runtime), user_id)
    if scope is None:
        return _answer(
            "You are not on the sales team in Nudge's settings yet: ask an admin to add you "
            "under `crm.team` in app.yaml."
        )
    return _answer(f"Your digest ({SCOPE_WORDS[scope]}) is on its way in a direct message.")


def register(app: AsyncApp) -> None:
    """Nothing to attach: the verb rides on ``/crm``, which :mod:`handlers.slack.commands` owns."""
