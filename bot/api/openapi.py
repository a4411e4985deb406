"""The OpenAPI 3.1 document, built from the operations and the pydantic models they run on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.api.framework import Operation
from bot.api.schemas import MAX_ID, ErrorBody
from models.services.tokens import SCOPES

REF = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]
REFUSALS = {
    400: "The input is invalid; `details` names the fields.",
    401: "The bearer token is missing, unknown or revoked.",
    403: "The token lacks the scope this operation needs, is bound to no user, or its user's "
    "current role does not allow the operation or reach the record.",
    404: "There is no such record.",
    409: "The change conflicts with the record's state.",
    413: "The body is too large.",
}


def _json(ref: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if operation.has_id:
        parameters.append(
            {"name": "id", "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
        )  # fmt: skip
    if operation.query is not None:
        properties = operation.query.model_json_schema(mode="validation")["properties"]
        for name, field in operation.query.model_fields.items():
            schema = {
                k: v for k, v in properties[name].items() if k not in ("title", "description")
            }
            parameters.append(
                {"name": name, "in": "query", "required": field.is_required(),
                 "description": field.description or "", "schema": schema}
            )  # fmt: skip
    return parameters


def _responses(operation: Operation, refs: Mapping[Any, Any]) -> Any:
    result = refs[operation.response, "serialization"]
    error = refs[ErrorBody, "serialization"]
    responses = {str(operation.status): _json(result, operation.summary)}
    codes = {401, 403, *operation.also}
    if operation.query is not None or operation.body is not None:
        codes.add(400)
    if operation.body is not None:
        codes.add(413)
    if operation.has_id:
        codes.add(404)
    for code in sorted(codes):
        if code < 300:
            responses[str(code)] = _json(result, "The record that already existed.")
        else:
            responses[str(code)] = _json(error, REFUSALS[code])
    return responses


def _description(operation: Operation) -> str:
    """The handler's docstring, and who may call it if not every member of the team."""
    text = operation.handler.__doc__ or ""
    return text if operation.role == "rep" else f"{text}\n\nOnly for tokens of {operation.role}s."


def openapi_document(operations: tuple[Operation, ...]) -> dict[str, Any]:
    """The document served at ``/api/v1/openapi.json``."""
    wanted: dict[tuple[type[BaseModel], Mode], None] = {(ErrorBody, "serialization"): None}
    for operation in operations:
        if operation.body is not None:
            wanted[operation.body, "validation"] = None
        wanted[operation.response, "serialization"] = None
    refs, definitions = models_json_schema(list(wanted), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        document: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "description": _description(operation),
            "tags": [operation.tag],
            "security": [{"bearerAuth": [operation.scope]}],
            "parameters": _parameters(operation),
            "responses": _responses(operation, refs),
            "x-scope": operation.scope,
            "x-role": operation.role,
        }
        if operation.body is not None:
            document["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[operation.body, "validation"]}},
            }
        paths.setdefault(operation.path, {})[operation.method.lower()] = document
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Nudge API",
            "version": "1",
            "description": "Accounts, contacts, deals, activities, profiles, nudges, audit "
            "and webhooks of a Nudge workspace. Every operation needs a bearer token with the "
            "scope it names: " + "; ".join(f"`{k}` {v}" for k, v in SCOPES.items()) + ". "
            "A token acts as the team member it was made for: it sees and changes only what "
            "their current role allows (a rep their own and shared records, a manager their "
            "team's too, an admin all); anything else is refused with 403.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from "
                    "`nudge token create --name N --scopes ... --as USER`.",
                }
            },
        },
    }
