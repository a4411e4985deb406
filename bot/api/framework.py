"""How an API operation runs: bearer token, the person it acts as, scope, role, validated
input, one transaction, JSON out.

An :class:`Operation` declares everything the OpenAPI document says about it; the same
declaration drives the request handling, so the document is the behaviour. Every row a
handler reads through :func:`record_of` or :func:`page_of` is within the reach of the
token's person (:mod:`bot.api.reach`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.api.reach import reach
from bot.runtime import Runtime
from learning.scorer import PendingUpdate
from models.db import unit_of_work
from models.integration import ApiToken
from models.services.access import AccessDeniedError, Viewer, can_see_user
from models.services.audit import record_audit
from models.services.hygiene import recheck
from models.services.roles import allows
from models.services.tokens import authenticate, token_actor, token_viewer

MAX_BODY = 256 * 1024
UNBOUND = "token is not bound to a user: create a new one with --as"
ONLY = {"manager": "managers and admins only", "admin": "admins only"}
OUT_OF_REACH = "records owned by other reps are visible only to them, their managers and admins"


class ApiError(Exception):
    """A refusal with its HTTP status, a stable code and a readable message."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []


async def check_hygiene(
    call: Call, *, contact_ids: Sequence[int | None] = (), deal_ids: Sequence[int | None] = ()
) -> None:
    """Run the hygiene rules on records just written (never blocking the write)."""
    await recheck(
        session=call.session, workspace_id=call.workspace_id, config=call.runtime.config.crm,
        now=call.runtime.clock(), actor=call.actor,
        contact_ids=[i for i in contact_ids if i is not None],
        deal_ids=[i for i in deal_ids if i is not None],
    )  # fmt: skip


def not_found(kind: str) -> ApiError:
    """The standard 404 for a record that is not there (or not in this workspace)."""
    return ApiError(404, "not_found", f"no such {kind}")


def out_of_reach(kind: str) -> ApiError:
    """The 403 for a record that is there but not for the token's person."""
    return ApiError(403, "forbidden", f"this token's user may not see this {kind}: {OUT_OF_REACH}")


class _InWorkspace(Protocol):
    id: int | None
    workspace_id: int


RecordT = TypeVar("RecordT", bound=_InWorkspace)


async def within_reach(call: Call, record: RecordT, kind: str) -> RecordT:
    """The record, if the token's person may see it; else the 403 :func:`out_of_reach`."""
    table: Any = type(record)
    query = select(table.id).where(table.id == record.id, reach(call.viewer, table))
    if (await call.session.exec(query)).first() is None:
        raise out_of_reach(kind)
    return record


async def record_of(call: Call, table: type[RecordT], kind: str) -> RecordT:
    """The record the path names: 404 if it is not in the workspace, 403 if out of reach."""
    record = await call.session.get(table, call.record_id)
    if record is None or record.workspace_id != call.workspace_id:
        raise not_found(kind)
    return await within_reach(call, record, kind)


async def audit_read(
    call: Call, target_type: str, ids: list[int | None], target_id: int | None = None
) -> None:
    """Record a read of personal data: which records, through which path."""
    await record_audit(
        session=call.session, workspace_id=call.workspace_id, actor=call.actor,
        action="api.read", target_type=target_type, target_id=target_id,
        after={"ids": ids, "path": call.request.path},
    )  # fmt: skip


@dataclass
class Call:
    """One request, authenticated and validated, inside its transaction."""

    runtime: Runtime
    session: AsyncSession
    token: ApiToken
    viewer: Viewer
    request: web.Request
    query: Any = None
    body: Any = None
    record_id: int = 0
    pending: PendingUpdate | None = None

    @property
    def actor(self) -> str:
        """The token, as the audit trail names it."""
        return token_actor(self.token)

    @property
    def workspace_id(self) -> int:
        """The workspace the token belongs to."""
        return self.token.workspace_id


@dataclass(frozen=True)
class Reply:
    """A result with a status other than the operation's usual one."""

    status: int
    model: BaseModel


Handler = Callable[[Call], Awaitable[BaseModel | Reply]]


@dataclass(frozen=True)
class Operation:
    """One route of the API, as served and as documented."""

    method: str
    path: str
    operation_id: str
    summary: str
    scope: str
    tag: str
    handler: Handler
    response: type[BaseModel]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    learns: bool = False
    also: tuple[int, ...] = ()
    role: str = "rep"

    @property
    def has_id(self) -> bool:
        """Whether the path names one record."""
        return "{id}" in self.path


def error_response(error: ApiError) -> web.Response:
    """The JSON body every refusal has."""
    body = {"error": error.code, "message": error.message, "details": error.details}
    headers = {"WWW-Authenticate": 'Bearer realm="nudge"'} if error.status == 401 else None
    return web.json_response(body, status=error.status, headers=headers)


def _invalid(exc: ValidationError, where: str) -> ApiError:
    details = [
        {"field": ".".join(str(p) for p in e["loc"]) or where, "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return ApiError(400, "invalid_" + where, f"invalid {where}: {summary}", details)


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer ...)")
    return secret.strip()


def _record_id(request: web.Request) -> int:
    raw = request.match_info.get("id", "")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
        raise not_found("record")
    return int(raw)


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", f"body over {MAX_BODY} bytes")
    raw = await request.read()
    try:
        document = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", "the body is not JSON") from exc
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise _invalid(exc, "body") from exc


@asynccontextmanager
async def _learning(runtime: Runtime, learns: bool) -> AsyncIterator[PendingUpdate | None]:
    """The scorer's staged update for operations that may teach the model."""
    if not learns:
        yield None
        return
    async with runtime.scorer.update() as pending:
        yield pending


async def _authorized(
    session: AsyncSession, runtime: Runtime, secret: str, operation: Operation
) -> tuple[ApiToken, Viewer]:
    """The live token, and the person it acts as, allowed ``operation`` by scope and role."""
    token = await authenticate(session=session, workspace_id=runtime.workspace_id, secret=secret)
    if token is None:
        raise ApiError(401, "unauthorized", "unknown or revoked token")
    viewer = await token_viewer(session=session, token=token)
    if viewer is None:
        raise ApiError(403, "unbound_token", UNBOUND)
    if operation.scope not in token.scopes:
        raise ApiError(403, "insufficient_scope", f"this token lacks the scope {operation.scope}")
    if not allows(viewer.role, operation.role):
        message = f"{ONLY[operation.role]}: this token acts as a {viewer.role}"
        raise ApiError(403, "role_required", message)
    return token, viewer


def _check_owner(viewer: Viewer, body: BaseModel | None) -> None:
    """Refuse giving a record to someone outside the token's person's team."""
    owner_id = getattr(body, "owner_id", None)
    if owner_id is not None and not can_see_user(viewer, owner_id):
        raise ApiError(
            403, "forbidden", f"owner_id: this token's user may not give records to user "
            f"{owner_id} ({OUT_OF_REACH})", [{"field": "owner_id"}],
        )  # fmt: skip


def _query(operation: Operation, request: web.Request) -> BaseModel | None:
    if operation.query is None:
        return None
    try:
        return operation.query.model_validate(dict(request.query))
    except ValidationError as exc:
        raise _invalid(exc, "query") from exc


async def run(operation: Operation, runtime: Runtime, request: web.Request) -> web.Response:
    """Serve one request of ``operation``: the token is checked before anything else."""
    try:
        secret = _bearer(request)
        async with (
            _learning(runtime, operation.learns) as pending,
            unit_of_work(runtime.sessions) as session,
        ):
            token, viewer = await _authorized(session, runtime, secret, operation)
            record_id = _record_id(request) if operation.has_id else 0
            query = _query(operation, request)
            body = await _body(request, operation.body) if operation.body is not None else None
            _check_owner(viewer, body)
            call = Call(runtime, session, token, viewer, request, query, body, record_id, pending)
            result = await operation.handler(call)
    except AccessDeniedError as denied:
        return error_response(out_of_reach(str(denied)))
    except ApiError as error:
        return error_response(error)
    status, model = (
        (result.status, result.model) if isinstance(result, Reply) else (operation.status, result)
    )
    return web.json_response(model.model_dump(mode="json"), status=status)


def encode_cursor(last_id: int) -> str:
    """An opaque cursor after ``last_id``.

    >>> decode_cursor(encode_cursor(42))
    42
    """
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after; :class:`ApiError` 400 if it is not one of ours."""
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "after" and value.isascii() and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ApiError(400, "invalid_cursor", "cursor is not one this API gave out")


async def page_of(
    call: Call,
    query: SelectOfScalar[Any],
    id_column: Any,
    conditions: list[ColumnElement[bool]],
) -> tuple[list[Any], str | None]:
    """Rows the token's person may see, in id order after the cursor, one page of them, and
    the path of the next page."""
    limit, cursor = call.query.limit, call.query.cursor
    conditions = [*conditions, reach(call.viewer, id_column.class_)]
    if cursor:
        conditions = [*conditions, col(id_column) > decode_cursor(cursor)]
    ordered = query.where(*conditions).order_by(col(id_column)).limit(limit + 1)
    rows = list((await call.session.exec(ordered)).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1].id
    return rows, str(call.request.rel_url.update_query(cursor=encode_cursor(last)))


async def exists(session: AsyncSession, table: Any, record_id: int, workspace_id: int) -> bool:
    """Whether a row of ``table`` with this id belongs to the workspace."""
    query = select(table.id).where(table.id == record_id, table.workspace_id == workspace_id)
    return (await session.exec(query)).first() is not None
