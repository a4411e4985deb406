"""The integration API under ``/api/v1`` (SPEC C6), with its OpenAPI document.

Reads go to the database every time (no caches), so a change made through Slack, capture
or the API is visible here as soon as it is committed. See docs/api.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.api import accounts, activities, audit, contacts, deals, nudges, webhooks
from bot.api.framework import ApiError, Operation, error_response, run
from bot.api.openapi import openapi_document
from bot.runtime import Runtime

PREFIX = "/api/v1"
OPERATIONS: tuple[Operation, ...] = (
    *accounts.OPERATIONS,
    *contacts.OPERATIONS,
    *deals.OPERATIONS,
    *activities.OPERATIONS,
    *nudges.OPERATIONS,
    *audit.OPERATIONS,
    *webhooks.OPERATIONS,
)
HttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(operation: Operation, runtime: Runtime) -> HttpHandler:
    async def handle(request: web.Request) -> web.Response:
        return await run(operation, runtime, request)

    return handle


@web.middleware
async def json_errors(request: web.Request, handler: HttpHandler) -> web.StreamResponse:
    """Unknown paths and methods answer in the API's JSON error shape, too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return error_response(ApiError(exc.status, code, exc.reason))


def create_api(runtime: Runtime) -> web.Application:
    """The sub-application to mount at :data:`PREFIX`."""
    api = web.Application(middlewares=[json_errors])
    document = openapi_document(OPERATIONS)

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(document)

    api.router.add_get("/openapi.json", openapi)
    for operation in OPERATIONS:
        api.router.add_route(operation.method, operation.path, _route(operation, runtime))
    return api
