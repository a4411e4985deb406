"""Hostile webhook bodies through every source's ``parse`` and ``item_id``, and the real inbox.

A body a source cannot parse may raise: the inbox then quarantines it whole, with the
reason. ``item_id`` runs in the request handler before the body is stored, which turns
ValueError, KeyError and TypeError into a digest id; anything else would be a 500.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.inbox import Inbox
from bot.runtime import Runtime
from bot.sources import WEBHOOK_SOURCES
from handlers.calls import GENERIC_CALLS, TWILIO_CALLS
from handlers.marketing import HUBSPOT_WEBHOOK, MARKETING_WEBHOOK
from handlers.webhook import WebhookSource
from models.services.inputs import ActivityIn, QuarantineIn
from tests.property.checks import KINDS, assert_readable_reason
from tests.property.strategies import FORM, WEBHOOK_SHAPES, webhook_body

Delivery = tuple[WebhookSource, bytes, str]
DEEP = b"[" * 100_000


@st.composite
def deliveries(draw: st.DrawFn) -> Delivery:
    """A source and a body for it: mostly its own shape with hostile values, else garbage."""
    source = draw(st.sampled_from(WEBHOOK_SOURCES))
    body, content_type = draw(webhook_body(source.name))
    return source, body, content_type


def form_of(body: bytes, content_type: str) -> dict[str, str]:
    """The form as the request handler hands it to ``item_id`` (bot/inbox.py ``_form``)."""
    if content_type != FORM:
        return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def test_every_source_has_a_strategy() -> None:
    assert {source.name for source in WEBHOOK_SOURCES} == set(WEBHOOK_SHAPES)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delivery=deliveries())
@example(delivery=(MARKETING_WEBHOOK, DEEP, "application/json"))
@example(delivery=(TWILIO_CALLS, b"CallSid=%ff", FORM))
async def test_parse_gives_inputs_or_the_inbox_quarantines_the_body(
    runtime: Runtime, delivery: Delivery
) -> None:
    source, body, content_type = delivery
    inbox = Inbox(runtime, WEBHOOK_SOURCES)
    try:
        expected = list(source.parse(body, content_type, runtime.config.crm, runtime.clock()))
    except Exception:  # the contract allows any exception: the inbox quarantines the body
        expected = None

    items = list(inbox._parse(source.name, body, content_type, "item-1"))

    if expected is None:
        (only,) = items
        assert isinstance(only, QuarantineIn)
        assert (only.source, only.raw, only.external_id) == (source.name, body, "item-1")
        assert_readable_reason(only)
        return
    assert items == expected
    for item in items:
        assert isinstance(item, KINDS), item
        assert item.source == source.name
        if isinstance(item, QuarantineIn):
            assert isinstance(item.raw, bytes)
            assert item.raw
            assert_readable_reason(item)
        elif isinstance(item, ActivityIn):
            assert item.external_id
            assert item.occurred_at.tzinfo is not None


@given(delivery=deliveries())
@example(delivery=(GENERIC_CALLS, DEEP, "application/json"))
@example(delivery=(HUBSPOT_WEBHOOK, DEEP, "application/json"))
def test_item_id_raises_only_what_the_request_handler_catches(delivery: Delivery) -> None:
    source, body, content_type = delivery
    try:
        item_id = source.item_id(body, form_of(body, content_type))
    except (ValueError, KeyError, TypeError, RecursionError):
        return
    assert isinstance(item_id, str)
    assert item_id


@pytest.mark.parametrize("source", [GENERIC_CALLS, HUBSPOT_WEBHOOK], ids=lambda s: s.name)
def test_deeply_nested_json_gives_an_error_the_handler_catches(source: WebhookSource) -> None:
    with pytest.raises((ValueError, KeyError, TypeError, RecursionError)):
        source.item_id(DEEP, {})
