"""Schemathesis against the served OpenAPI document: no 5xx, every answer matches its schema."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.served import API, Api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(
    document: dict[str, Any],
    base_url: str,
    token: str,
    mode: GenerationMode = GenerationMode.POSITIVE,
    checks: list[CheckFunction] = CHECKS,
) -> list[str]:
    """Run every operation with generated input; the operations that were exercised."""
    schema = schemathesis.openapi.from_dict(document)
    exercised = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()

        @settings(
            max_examples=25, derandomize=True, database=None, deadline=None,
            phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=checks
            )

        check()
        exercised.append(operation.label)
    return exercised


async def _seed(api: Api) -> None:
    status, contact = await api.call(
        "POST", "/contacts", json={"email": "ana.silva@globex.example", "name": "Ana Silva"}
    )
    assert status == 201, contact
    body = {"name": "Globex rollout", "contact_ids": [contact["id"]], "amount": 12000}
    assert (await api.call("POST", "/deals", json=body))[0] == 201


async def test_every_operation_holds_to_the_served_document(api: Api) -> None:
    await _seed(api)
    document = await (await api.client.get(API + "/openapi.json")).json()
    base_url = str(api.client.make_url(API))
    exercised = await asyncio.to_thread(_fuzz, document, base_url, api.token)
    expected = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    assert set(exercised) == expected


async def test_invalid_input_gets_a_documented_refusal_never_a_crash(api: Api) -> None:
    await _seed(api)
    document = await (await api.client.get(API + "/openapi.json")).json()
    base_url = str(api.client.make_url(API))
    refusals = [not_a_server_error, status_code_conformance, content_type_conformance]
    exercised = await asyncio.to_thread(
        _fuzz, document, base_url, api.token, GenerationMode.NEGATIVE, refusals
    )
    assert len(exercised) == sum(len(ops) for ops in document["paths"].values())
