"""Every webhook source Nudge serves; each module owns its wire format and signature."""

from __future__ import annotations

from handlers.calls import GENERIC_CALLS, TWILIO_CALLS
from handlers.marketing import HUBSPOT_WEBHOOK, MARKETING_WEBHOOK
from handlers.webhook import WebhookSource

WEBHOOK_SOURCES: tuple[WebhookSource, ...] = (
    TWILIO_CALLS,
    GENERIC_CALLS,
    HUBSPOT_WEBHOOK,
    MARKETING_WEBHOOK,
)
