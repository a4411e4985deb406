"""Every route refuses a missing, unknown, revoked or wrongly scoped token, in JSON."""

from __future__ import annotations

from openapi_spec_validator import validate

from bot.api import OPERATIONS
from bot.api.framework import Operation
from models.db import unit_of_work
from models.integration import ApiToken
from models.services.tokens import SCOPES, revoke_token, token_hash
from tests.api.served import API, Api, make_token


def _path(operation: Operation) -> str:
    return operation.path.replace("{id}", "1")


async def _status(api: Api, operation: Operation, headers: dict[str, str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = await api.client.request(
        operation.method, API + _path(operation), headers=headers, json={}
    )
    return response.status, await response.json()


async def test_every_route_refuses_a_missing_or_unknown_token(api: Api) -> None:
    for operation in OPERATIONS:
        status, body = await _status(api, operation, {})
        assert (status, body["error"]) == (401, "unauthorized"), operation.operation_id
        assert "missing bearer token" in body["message"]
        status, body = await _status(api, operation, {"Authorization": "Bearer ndg_not-a-token"})
        assert (status, body["error"]) == (401, "unauthorized"), operation.operation_id


async def test_every_route_refuses_a_token_without_its_scope(api: Api) -> None:
    for operation in OPERATIONS:
        others = [s for s in SCOPES if s != operation.scope]
        token = await make_token(api.runtime, *others, name=f"no-{operation.scope}")
        status, body = await _status(api, operation, {"Authorization": f"Bearer {token}"})
        assert (status, body["error"]) == (403, "insufficient_scope"), operation.operation_id
        assert operation.scope in body["message"]


async def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    token = await make_token(api.runtime, "contacts:read")
    assert (await api.call("GET", "/contacts", token=token))[0] == 200
    async with unit_of_work(api.runtime.sessions) as session:
        stored = await session.get(ApiToken, 2)
        assert stored is not None
        assert stored.token_hash == token_hash(token)
        await revoke_token(
            session=session, workspace_id=api.runtime.workspace_id, token_id=2, actor="test"
        )
    status, body = await api.call("GET", "/contacts", token=token)
    assert (status, body["error"]) == (401, "unauthorized")


async def test_tokens_are_stored_only_as_hashes(api: Api) -> None:
    token = await make_token(api.runtime, "deals:read")
    async with unit_of_work(api.runtime.sessions) as session:
        stored = await session.get(ApiToken, 2)
    assert stored is not None
    assert token not in stored.model_dump_json()
    assert stored.token_hash == token_hash(token)
    assert stored.scopes == ["deals:read"]


async def test_the_openapi_document_is_public_and_names_each_scope(api: Api) -> None:
    response = await api.client.get(API + "/openapi.json")
    document = await response.json()
    validate(document)  # a valid OpenAPI 3.1 document
    assert document["openapi"] == "3.1.0"
    for operation in OPERATIONS:
        served = document["paths"][operation.path][operation.method.lower()]
        assert served["security"] == [{"bearerAuth": [operation.scope]}]
        assert {"401", "403"} <= set(served["responses"])


async def test_unknown_paths_and_methods_answer_in_json(api: Api) -> None:
    response = await api.client.get(API + "/leads")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"
    response = await api.client.put(API + "/contacts")
    assert response.status == 405
    assert (await response.json())["error"] == "method_not_allowed"
    status, body = await api.call("GET", "/contacts/abc")
    assert (status, body["error"]) == (404, "not_found")
