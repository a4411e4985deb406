"""Look-ups: ``/lead``, ``/deal``, ``/pipeline``, the ``open_profile`` / ``open_deal`` buttons,
and ``page_previous`` / ``page_next`` through the pipeline or a timeline.

Commands ack at once and answer privately through ``response_url``. A button pressed in a
message answers the presser privately (replacing the choice list it was on, if that list was
private); pressed in the App Home it opens the card in a modal, without page buttons. A page
button replaces the private answer it is on with the page it names. Every answer respects
what the asker may see (:mod:`models.services.access`), the presser's on every page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.lookups import (
    deal_answer,
    deal_view_answer,
    lead_answer,
    pipeline_answer,
    profile_answer,
    timeline_answer,
)
from bot.runtime import Runtime
from handlers.blocks import OPEN_PROFILE, PAGE_BLOCK, PAGE_NEXT, PAGE_PREVIOUS, Page, truncate
from handlers.blocks_profile import OPEN_DEAL, Answer, render_notice
from handlers.slack import runtime_of

log = structlog.get_logger(__name__)
COMMANDS = ("/lead", "/deal", "/pipeline")
OPENERS = (OPEN_PROFILE, OPEN_DEAL)
PAGERS = (PAGE_PREVIOUS, PAGE_NEXT)
ACTIONS = (*OPENERS, *PAGERS)
MODAL_TITLE = {OPEN_PROFILE: "Lead profile", OPEN_DEAL: "Deal"}
NOWHERE = "That button points nowhere: try the look-up command."
Lookup = Callable[[Runtime, str, str], Awaitable[Answer]]
Opener = Callable[[Runtime, str, int], Awaitable[Answer]]
Pager = Callable[[Runtime, str, str, int], Awaitable[Answer]]
_BY_COMMAND: dict[str, Lookup] = {
    "/lead": lead_answer,
    "/deal": deal_answer,
    "/pipeline": pipeline_answer,
}
_BY_ACTION: dict[str, Opener] = {OPEN_PROFILE: profile_answer, OPEN_DEAL: deal_view_answer}
_BY_LIST: dict[str, Pager] = {"pipeline": pipeline_answer, "timeline": timeline_answer}


async def handle_lookup_command(
    ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond
) -> None:
    """Ack within Slack's 3 s, then look up and answer privately."""
    await ack()
    lookup = _BY_COMMAND[str(command.get("command", ""))]
    user_id = str(command.get("user_id", ""))
    text, blocks = await lookup(runtime_of(context), user_id, str(command.get("text") or ""))
    await respond(text=text, blocks=blocks, response_type="ephemeral")


def _modal(action_id: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The card in a modal; page buttons answer through a response URL, which a modal lacks."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": truncate(MODAL_TITLE[action_id], 24)},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [b for b in blocks if not str(b.get("block_id", "")).startswith(PAGE_BLOCK)],
    }


async def handle_open_action(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    respond: AsyncRespond,
    client: AsyncWebClient,
) -> None:
    """Show the card a button points to, to the presser only, if they may see it."""
    await ack()
    action_id = str(action.get("action_id", ""))
    value = str(action.get("value", ""))
    user_id = str((body.get("user") or {}).get("id", ""))
    if value.isdigit():
        text, blocks = await _BY_ACTION[action_id](runtime_of(context), user_id, int(value))
    else:
        text, blocks = render_notice(NOWHERE)
    container = body.get("container") or {}
    if container.get("type") == "view" or not body.get("response_url"):
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=_modal(action_id, blocks))
        except (SlackApiError, KeyError) as exc:
            log.warning("lookup.modal_failed", error=type(exc).__name__)
        return
    private = bool(container.get("is_ephemeral"))
    await respond(
        text=text,
        blocks=blocks,
        response_type="ephemeral",
        replace_original=private,
    )


async def handle_page_action(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    respond: AsyncRespond,
) -> None:
    """Replace the private answer with the page the button names, as the presser may see it."""
    await ack()
    page = Page.parse(str(action.get("value", "")))
    user_id = str((body.get("user") or {}).get("id", ""))
    if page is None or page.kind not in _BY_LIST:
        text, blocks = render_notice(NOWHERE)
    else:
        pager = _BY_LIST[page.kind]
        text, blocks = await pager(runtime_of(context), user_id, page.key, page.number)
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    for command in COMMANDS:
        app.command(command)(handle_lookup_command)
    for action_id in OPENERS:
        app.action(action_id)(handle_open_action)
    for action_id in PAGERS:
        app.action(action_id)(handle_page_action)
