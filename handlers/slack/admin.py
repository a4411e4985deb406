"""Admin verbs: ``/crm audit``, ``/crm role``, ``/crm forget`` (with confirmation buttons),
``/crm export``.

Every verb checks the caller's role first and answers a refusal privately. Roles from
Slack user groups are kept current off the request path, by :mod:`bot.slack_people` while
``nudge serve`` runs; a ``user_change`` event keeps the person's time zone current.
"""

from __future__ import annotations

import json
import re
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.cli_audit import parse_since
from bot.governance import erase, export, retract_messages
from bot.runtime import Runtime
from bot.slack_people import remember_zone
from handlers.blocks import automated_context, escape_mrkdwn, mention, section
from handlers.slack import runtime_of
from handlers.slack.verbs import Answer, verb
from models.db import unit_of_work
from models.services.audit import AuditFilter, list_audit, record_audit, verify_chain
from models.services.roles import RoleRequiredError, grant_role, require_role

log = structlog.get_logger(__name__)
FORGET_CONFIRM, FORGET_CANCEL = "privacy_forget_confirm", "privacy_forget_cancel"
ACTIONS = (FORGET_CONFIRM, FORGET_CANCEL)
EVENTS = ("user_change",)
EXPORT_INLINE = 2800
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,30})$")
_EMAIL = re.compile(r"^(?:<mailto:[^|>]+\|)?([^\s<>|@]+@[^\s<>|@]+\.[^\s<>|@]+?)>?$")
_FILTERS = ("actor", "action", "target", "since")


def _plain(text: str) -> Answer:
    return text, [section(text), automated_context()]


async def _refused(runtime: Runtime, user_id: str, needed: str, action: str) -> Answer | None:
    """A private refusal when the caller's role is too low, else None."""
    try:
        async with unit_of_work(runtime.sessions) as session:
            await require_role(session=session, workspace_id=runtime.workspace_id,
                               slack_user_id=user_id, needed=needed, action=action)  # fmt: skip
    except RoleRequiredError as exc:
        return _plain(f"⛔ {exc.reason}")
    return None


def parse_filters(args: str) -> AuditFilter:
    """``actor:slack:U1 action:role target:deal:4 since:2026-11-01`` as a filter.

    >>> parse_filters("action:role since:2026-11-01").action
    'role'
    """
    values: dict[str, str] = {}
    for word in args.split():
        key, sep, value = word.partition(":")
        if not sep or key not in _FILTERS or not value:
            raise ValueError(f"I can filter by {', '.join(f'`{f}:…`' for f in _FILTERS)}")
        values[key] = value
    return AuditFilter(actor=values.get("actor"), action=values.get("action"),
                       target=values.get("target"), since=parse_since(values.get("since")),
                       limit=20)  # fmt: skip


def _audit_line(row: Any) -> str:
    target = f"{row.target_type}:{row.target_id or ''}"
    change = f" {row.before} → {row.after}" if row.before or row.after else ""
    return escape_mrkdwn(
        f"#{row.id} {row.at:%Y-%m-%d %H:%M} {row.actor} {row.action} {target}{change}"
    )[:300]


@verb(
    "audit", "audit [actor:… action:… target:… since:DATE] — the audit trail (admins)", role="admin"
)
async def _audit(runtime: Runtime, user_id: str, args: str) -> Answer:
    refused = await _refused(runtime, user_id, "admin", "read the audit trail")
    if refused:
        return refused
    try:
        query = parse_filters(args)
    except ValueError as exc:
        return _plain(str(exc))
    async with unit_of_work(runtime.sessions) as session:
        rows = await list_audit(session=session, query=query)
        report = await verify_chain(session=session)
        await record_audit(session=session, workspace_id=runtime.workspace_id,
                           actor=f"slack:{user_id}", action="audit.read", target_type="audit",
                           after={"rows": len(rows), "filter": args[:200]})  # fmt: skip
    state = (
        f"chain intact ({report.checked} rows)"
        if report.ok
        else f"⚠️ chain broken at row {report.bad_id}: {report.reason}"
    )
    body = "\n".join(_audit_line(r) for r in rows) or "No audit rows match."
    text = f"*Audit trail* · {state}\n{body}"
    return text, [section(text), automated_context("newest first, 20 at most")]


@verb("role", "role @user rep|manager|admin — set someone's role (admins)", role="admin")
async def _role(runtime: Runtime, user_id: str, args: str) -> Answer:
    refused = await _refused(runtime, user_id, "admin", "change roles")
    if refused:
        return refused
    words = args.split()
    match = _USER.match(words[0]) if len(words) == 2 else None
    if match is None or words[1] not in ("rep", "manager", "admin"):
        return _plain("Usage: `/crm role @user rep|manager|admin`")
    target = match.group(1) or match.group(2)
    async with unit_of_work(runtime.sessions) as session:
        before, after = await grant_role(
            session=session, workspace_id=runtime.workspace_id, actor=f"slack:{user_id}",
            slack_user_id=target, role=words[1], config=runtime.config.crm,
        )  # fmt: skip
    return _plain(f"{mention(target)} is now {after} (was {before}).")


def parse_email(text: str) -> str | None:
    """An email typed in Slack (which may arrive as a mailto link), or None.

    >>> parse_email("<mailto:ana@globex.example|ana@globex.example>")
    'ana@globex.example'
    """
    match = _EMAIL.match(text.strip())
    return match.group(1) if match else None


@verb(
    "forget", "forget EMAIL — erase a person everywhere, after you confirm (admins)", role="admin"
)
async def _forget(runtime: Runtime, user_id: str, args: str) -> Answer:
    refused = await _refused(runtime, user_id, "admin", "erase people")
    if refused:
        return refused
    email = parse_email(args)
    if email is None:
        return _plain("Usage: `/crm forget name@company.com`")
    warning = (
        f"Erase everything Nudge holds about *{escape_mrkdwn(email)}*: their record, "
        "activities, stored mail, nudges and Slack messages about them, and what the model "
        "learned from them? This cannot be undone."
    )
    buttons = {
        "type": "actions",
        "block_id": "privacy_forget",
        "elements": [
            {"type": "button", "action_id": FORGET_CONFIRM, "style": "danger", "value": email,
             "text": {"type": "plain_text", "text": "Erase"}},
            {"type": "button", "action_id": FORGET_CANCEL, "value": "cancel",
             "text": {"type": "plain_text", "text": "Cancel"}},
        ],
    }  # fmt: skip
    return warning, [section(warning), buttons, automated_context()]


@verb("export", "export EMAIL — what Nudge holds about a person, as JSON (admins)", role="admin")
async def _export(runtime: Runtime, user_id: str, args: str) -> Answer:
    refused = await _refused(runtime, user_id, "admin", "export personal data")
    if refused:
        return refused
    email = parse_email(args)
    if email is None:
        return _plain("Usage: `/crm export name@company.com`")
    held = await export(runtime, email, actor=f"slack:{user_id}")
    counts = ", ".join(f"{k}: {len(v)}" for k, v in sorted(held.items()) if isinstance(v, list))
    document = json.dumps(held, indent=1, sort_keys=True, ensure_ascii=False, default=str)
    shown = document if len(document) <= EXPORT_INLINE else document[:EXPORT_INLINE] + "\n…"
    more = (
        ""
        if shown == document
        else (f"\nCut at {EXPORT_INLINE:,} characters: `nudge export --email` writes it all.")
    )
    summary = f"*Held about {escape_mrkdwn(email)}* ({counts}){more}"
    return summary, [
        section(summary),
        section(f"```{escape_mrkdwn(shown)}```"),
        automated_context("this export is recorded in the audit trail"),
    ]


async def handle_forget_action(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    """Erase on confirmation (checking the role again); answer with the receipt."""
    await ack()
    runtime = runtime_of(context)
    user_id = str((body.get("user") or {}).get("id", ""))
    if action.get("action_id") == FORGET_CANCEL:
        await respond(replace_original=True, **_message(_plain("Nothing was erased.")))
        return
    refused = await _refused(runtime, user_id, "admin", "erase people")
    email = parse_email(str(action.get("value", "")))
    if refused or email is None:
        await respond(replace_original=True, **_message(refused or _plain("No email to erase.")))
        return
    erasure = await erase(runtime, email, actor=f"slack:{user_id}")
    retracted = await retract_messages(runtime, client)
    done = (
        f"Erased: {erasure.contacts} contact record(s), "
        f"{sum(erasure.counts.values())} stored rows, "
        f"{retracted} of {erasure.retractions} Slack message(s) removed. "
        "Later mail from this person will not be captured. The receipt is in the audit trail."
    )
    await respond(replace_original=True, **_message(_plain(done)))


def _message(answer: Answer) -> dict[str, Any]:
    return {"text": answer[0], "blocks": answer[1]}


async def handle_user_change(event: dict[str, Any], context: AsyncBoltContext) -> None:
    """A person's Slack profile changed: keep their time zone."""
    await remember_zone(runtime_of(context), event.get("user"))


def register(app: AsyncApp) -> None:
    """Attach the confirmation buttons and the profile listener."""
    for action_id in ACTIONS:
        app.action(action_id)(handle_forget_action)
    app.event("user_change")(handle_user_change)
