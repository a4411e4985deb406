"""The **Fix data** button on a data-incomplete nudge, its modal, and ``/crm rules``.

The button opens a modal (``views.open``) with the inputs the issue's rule needs; the
submission is checked (errors shown in the modal), saved, and the record re-checked, which
closes the issue and threads a "fixed" line under the nudge.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from handlers.blocks import escape_mrkdwn, section, truncate
from handlers.blocks_hygiene import FIX_ACTION, RECORD_LABEL, render_rules
from handlers.slack import answer_privately, button_number, runtime_of
from handlers.slack.verbs import Answer, verb
from models.contact import Contact
from models.db import unit_of_work
from models.deal import Deal
from models.hygiene import HygieneIssue
from models.services.access import may_act_on
from models.services.hygiene_fixes import FixIn, apply_fix, contact_choices, fix_kind
from models.workspace import User

ACTIONS = (FIX_ACTION,)
CALLBACK = "fix_data"
VALUE = "value"


class RefusedError(Exception):
    """A submission that cannot be saved; the message is shown on the modal's first input."""


def _text(label: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(label, 75)}


def _input(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False
) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _text(label),
        "element": {**element, "action_id": VALUE},
    }


def _tick(block_id: str, label: str, option: str) -> dict[str, Any]:
    return _input(
        block_id,
        label,
        {"type": "checkboxes", "options": [{"text": _text(option), "value": "yes"}]},
        optional=True,
    )


async def _inputs(runtime: Runtime, issue: HygieneIssue) -> list[dict[str, Any]]:
    """The inputs an issue's kind of fix needs."""
    kind = fix_kind(issue)
    if kind == "contact":
        async with unit_of_work(runtime.sessions) as session:
            choices = await contact_choices(session, issue)
        blocks = []
        if choices:
            options = [{"text": _text(name), "value": str(cid)} for cid, name in choices]
            blocks.append(
                _input("contact", "Contact to link",
                       {"type": "static_select", "options": options}, optional=True)
            )  # fmt: skip
        blocks.append(
            _input("contact_email", "Or the email of a new contact",
                   {"type": "email_text_input"}, optional=True)
        )  # fmt: skip
        return blocks
    if kind == "amount":
        field = _input("amount", "Amount", {"type": "number_input", "is_decimal_allowed": True},
                       optional=issue.rule == "amount_outlier")  # fmt: skip
        if issue.rule == "amount_outlier":
            return [field, _tick("amount_is_right", "Or keep it", "The amount is right as it is")]
        return [field]
    simple: dict[str, tuple[str, dict[str, Any]]] = {
        "close_date": ("Expected close date", {"type": "datepicker"}),
        "owner": ("Owner", {"type": "users_select"}),
        "note": ("What happened? (logged as a note)",
                 {"type": "plain_text_input", "multiline": True, "max_length": 2000}),
        "email": ("Email address", {"type": "email_text_input"}),
        "phone": ("Phone number (international, like +1 415 555 0100)",
                  {"type": "plain_text_input", "max_length": 40}),
    }  # fmt: skip
    if kind in simple:
        label, element = simple[kind]
        return [_input(kind, label, element)]
    return [_tick("dismiss", "Not a duplicate?", "These are different people (keep both)")]


async def fix_view(runtime: Runtime, issue: HygieneIssue, record_name: str) -> dict[str, Any]:
    """The modal for one issue."""
    label = RECORD_LABEL.get(issue.entity_type, "Record")
    problem = f"{label} *{escape_mrkdwn(record_name)}* {escape_mrkdwn(issue.message)}."
    return {
        "type": "modal",
        "callback_id": CALLBACK,
        "private_metadata": str(issue.id),
        "title": _text("Fix data"),
        "submit": _text("Save"),
        "close": _text("Cancel"),
        "blocks": [section(problem), *await _inputs(runtime, issue)],
    }


async def _record_name(session: AsyncSession, issue: HygieneIssue) -> str:
    record: Contact | Deal | None = (
        await session.get(Contact, issue.entity_id)
        if issue.entity_type == "contact"
        else await session.get(Deal, issue.entity_id)
    )
    return record.name if record is not None else f"#{issue.entity_id}"


NOT_YOURS = "Only the owner of this record, their manager or an admin can fix it."


async def _may_fix(
    runtime: Runtime, issue: HygieneIssue, slack_user: str, session: AsyncSession | None = None
) -> bool:
    """Whether this Slack user may fix the record the issue is about."""
    ids = (issue.entity_id,)
    if session is None:
        async with unit_of_work(runtime.sessions) as own:
            return await _may_fix(runtime, issue, slack_user, own)
    return await may_act_on(
        session=session, workspace_id=runtime.workspace_id, slack_user_id=slack_user,
        contact_ids=ids if issue.entity_type == "contact" else (),
        deal_ids=ids if issue.entity_type == "deal" else (),
    )  # fmt: skip


async def handle_fix_button(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    """Open the fix modal for the issue on the button, unless it is already closed."""
    await ack()
    runtime = runtime_of(context)
    issue_id = button_number(action)
    async with unit_of_work(runtime.sessions) as session:
        issue = await session.get(HygieneIssue, issue_id) if issue_id is not None else None
        name = await _record_name(session, issue) if issue is not None else ""
    if issue is None or issue.workspace_id != runtime.workspace_id or issue.closed_at:
        await answer_privately(
            respond, "Nothing to fix: this was already fixed, or the record is gone."
        )
        return
    if not await _may_fix(runtime, issue, str(body.get("user", {}).get("id", ""))):
        await answer_privately(respond, NOT_YOURS)
        return
    view = await fix_view(runtime, issue, name)
    await client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)


def _state(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    block = view.get("state", {}).get("values", {}).get(block_id, {})
    return dict(block.get(VALUE) or {})


def _ticked(view: dict[str, Any], block_id: str) -> bool:
    return bool(_state(view, block_id).get("selected_options"))


def parse_fix(view: dict[str, Any]) -> FixIn:
    """The submitted values; raises :class:`RefusedError` for one that cannot be read."""
    chosen = (_state(view, "contact").get("selected_option") or {}).get("value")
    amount_text = _state(view, "amount").get("value")
    try:
        amount = float(amount_text) if amount_text not in (None, "") else None
        picked = _state(view, "close_date").get("selected_date")
        close_date = date.fromisoformat(picked) if picked else None
    except ValueError as exc:
        raise RefusedError("That is not a number or a date I can read.") from exc
    return FixIn(
        contact_id=int(chosen) if chosen and str(chosen).isdigit() else None,
        contact_email=_state(view, "contact_email").get("value") or None,
        amount=amount,
        amount_is_right=_ticked(view, "amount_is_right"),
        close_date=close_date,
        owner_slack_id=_state(view, "owner").get("selected_user") or None,
        note=_state(view, "note").get("value") or None,
        email=_state(view, "email").get("value") or None,
        phone=_state(view, "phone").get("value") or None,
        dismiss=_ticked(view, "dismiss"),
    )


def _first_input(view: dict[str, Any]) -> str:
    return next(
        (str(b["block_id"]) for b in view.get("blocks", []) if b.get("type") == "input"), "fix"
    )


async def _save(runtime: Runtime, view: dict[str, Any], slack_user: str) -> str | None:
    """Save the fix in one transaction; returns the problem if the issue is still open."""
    fix = parse_fix(view)
    metadata = str(view.get("private_metadata", ""))
    async with unit_of_work(runtime.sessions) as session:
        issue = await session.get(HygieneIssue, int(metadata)) if metadata.isdigit() else None
        if issue is None or issue.workspace_id != runtime.workspace_id:
            raise RefusedError("This issue no longer exists.")
        if issue.closed_at is not None:
            return None  # fixed meanwhile (or this is Slack retrying): nothing more to do
        if not await _may_fix(runtime, issue, slack_user, session):
            raise RefusedError(NOT_YOURS)
        user = (
            await session.exec(
                select(User).where(
                    User.workspace_id == runtime.workspace_id, User.slack_user_id == slack_user
                )
            )
        ).first()
        if user is None:
            raise RefusedError("Only members of the sales team (app.yaml, crm.team) can fix data.")
        error = await apply_fix(
            session=session, issue=issue, fix=fix, user=user, ref=str(view.get("id", "")),
            config=runtime.config.crm, now=runtime.clock(),
        )  # fmt: skip
        if error is not None:
            raise RefusedError(error)  # rolls the transaction back
        return issue.message if issue.closed_at is None else None


async def handle_fix_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    """Check and save; errors go back to the modal, a remaining problem is shown in it."""
    try:
        still = await _save(runtime_of(context), view, str(body.get("user", {}).get("id", "")))
    except RefusedError as exc:
        await ack(response_action="errors", errors={_first_input(view): str(exc)})
        return
    if still is None:
        await ack()
        return
    await ack(
        response_action="update",
        view={
            "type": "modal",
            "title": _text("Saved"),
            "close": _text("Close"),
            "blocks": [section(f"Saved. It is still flagged: {escape_mrkdwn(still)}.")],
        },
    )


@verb("rules", "rules — the data-hygiene rules in force, with their parameters")
async def _rules(runtime: Runtime, user_id: str, args: str) -> Answer:
    return render_rules(runtime.config.crm.hygiene)


def register(app: AsyncApp) -> None:
    """Attach the listeners."""
    app.action(FIX_ACTION)(handle_fix_button)
    app.view(CALLBACK)(handle_fix_submission)
