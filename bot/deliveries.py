"""Posts outbound webhook deliveries: signed, retried with capped backoff, each id sent once.

Headers on every attempt: ``X-Nudge-Event``, ``X-Nudge-Delivery`` (the same on a retry, so
the receiver can drop a repeat), ``X-Nudge-Timestamp`` and ``X-Nudge-Signature`` (``v1=`` and
the hex HMAC-SHA256 of ``{timestamp}.{body}`` keyed with the subscription's secret, the
scheme of Nudge's inbound webhooks).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime

import aiohttp
import structlog

from bot.egress import PrivateAddressError, url_problem, webhook_client
from bot.outbox import backoff
from handlers.signing import GENERIC_SIGNATURE, GENERIC_TIMESTAMP, generic_signature
from models.db import SessionFactory, unit_of_work
from models.integration import WebhookDelivery, WebhookSubscription
from models.services.outbound import claim_delivery, due_deliveries, finish_delivery
from models.types import utcnow

log = structlog.get_logger(__name__)

EVENT_HEADER = "X-Nudge-Event"
DELIVERY_HEADER = "X-Nudge-Delivery"
RETRY_BASE_S = 5.0


def signed_request(
    delivery: WebhookDelivery, subscription: WebhookSubscription, *, timestamp: int
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Nudge-Webhooks/1",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: delivery.delivery_id,
        GENERIC_TIMESTAMP: str(timestamp),
        GENERIC_SIGNATURE: generic_signature(body, subscription.secret, timestamp),
    }
    return body, headers


class WebhookDeliverer:
    """Polls the deliveries table and posts what is due; safe to run in several workers."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        timeout_s: float = 10.0,
        retry_base_s: float = RETRY_BASE_S,
        clock: Callable[[], datetime] = utcnow,
        allow_private: bool = False,
    ) -> None:
        self.sessions = sessions
        self.allow_private = allow_private
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retry_base_s = retry_base_s
        self.clock = clock

    async def run_once(self, http: aiohttp.ClientSession) -> int:
        """Attempt every due delivery once; returns how many were delivered."""
        async with unit_of_work(self.sessions) as session:
            due = await due_deliveries(session=session, now=self.clock())
        delivered = 0
        for delivery_id in due:
            delivered += await self._attempt(http, delivery_id)
        return delivered

    async def _attempt(self, http: aiohttp.ClientSession, delivery_id: int) -> int:
        async with unit_of_work(self.sessions) as session:
            claimed = await claim_delivery(
                session=session, delivery_id=delivery_id, now=self.clock()
            )
        if claimed is None:
            return 0
        delivery, subscription = claimed
        body, headers = signed_request(delivery, subscription, timestamp=int(time.time()))
        error = await self._post(http, subscription.url, body, headers)
        async with unit_of_work(self.sessions) as session:
            finished = await finish_delivery(
                session=session,
                delivery_id=delivery_id,
                now=self.clock(),
                error=error,
                retry_in=backoff(delivery.attempts, self.retry_base_s),
            )
        state = finished.state if finished else "gone"
        log.info(
            "webhook.attempt",
            delivery_id=delivery_id,
            subscription_id=subscription.id,
            event_type=delivery.event,
            attempt=delivery.attempts,
            state=state,
            error=error,
        )
        return int(error is None)

    def client(self) -> aiohttp.ClientSession:
        """The HTTP client to deliver with (it refuses private destinations unless allowed)."""
        return webhook_client(allow_private=self.allow_private)

    async def _post(
        self, http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
    ) -> str | None:
        """None on a 2xx answer, else a short reason (no body, which may hold anything)."""
        problem = url_problem(url, allow_private=self.allow_private)
        if problem is not None:
            return f"refused: {problem}"
        try:
            async with http.post(
                url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                await response.read()
                return None if 200 <= response.status < 300 else f"http {response.status}"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, PrivateAddressError):
                return "refused: the host resolves to a private or reserved address"
            return type(exc).__name__
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__

    async def run_forever(self, stop: asyncio.Event, *, interval_s: float = 0.5) -> None:
        """Deliver until ``stop`` is set; a failure never ends the loop."""
        async with self.client() as http:
            while not stop.is_set():
                try:
                    await self.run_once(http)
                except Exception:
                    log.exception("webhook.error")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
                except TimeoutError:
                    continue
