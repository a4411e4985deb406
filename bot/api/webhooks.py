"""``/webhooks``: subscriptions to events out (score changed, hygiene issue opened or closed).

Admins only: a subscription receives the events of every record of the workspace.
"""

from __future__ import annotations

from pydantic import BaseModel

from bot.api.framework import ApiError, Call, Operation, not_found
from bot.api.schemas import WebhookCreate, WebhookCreated, WebhookRead
from bot.egress import url_problem
from models.integration import WebhookSubscription
from models.services.outbound import (
    create_subscription,
    disable_subscription,
    list_subscriptions,
)


class WebhookList(BaseModel):
    """Every subscription of the workspace, stopped ones included."""

    data: list[WebhookRead]


def _read(subscription: WebhookSubscription) -> WebhookRead:
    return WebhookRead.model_validate(subscription, from_attributes=True)


async def create_webhook(call: Call) -> WebhookCreated:
    """Subscribe; the answer carries the signing secret, shown this once."""
    body: WebhookCreate = call.body
    allowed = call.runtime.settings.webhooks_to_private_networks
    if (problem := url_problem(body.url, allow_private=allowed)) is not None:
        raise ApiError(400, "invalid_body", f"url: {problem}")
    try:
        subscription = await create_subscription(
            session=call.session, workspace_id=call.workspace_id, url=body.url,
            events=body.events, actor=call.actor,
        )  # fmt: skip
    except ValueError as exc:
        raise ApiError(400, "invalid_body", str(exc)) from exc
    return WebhookCreated.model_validate(subscription, from_attributes=True)


async def list_webhooks(call: Call) -> WebhookList:
    """Every subscription, without secrets."""
    found = await list_subscriptions(session=call.session, workspace_id=call.workspace_id)
    return WebhookList(data=[_read(s) for s in found])


async def delete_webhook(call: Call) -> WebhookRead:
    """Stop a subscription; its undelivered events are dropped."""
    subscription = await disable_subscription(
        session=call.session, workspace_id=call.workspace_id, subscription_id=call.record_id,
        actor=call.actor,
    )  # fmt: skip
    if subscription is None:
        raise not_found("webhook")
    return _read(subscription)


OPERATIONS = (
    Operation("GET", "/webhooks", "listWebhooks", "List webhook subscriptions",
              "webhooks:write", "webhooks", list_webhooks, WebhookList, role="admin"),
    Operation("POST", "/webhooks", "createWebhook", "Subscribe to events", "webhooks:write",
              "webhooks", create_webhook, WebhookCreated, body=WebhookCreate, status=201,
              role="admin"),
    Operation("DELETE", "/webhooks/{id}", "deleteWebhook", "Stop a subscription",
              "webhooks:write", "webhooks", delete_webhook, WebhookRead, role="admin"),
)  # fmt: skip
