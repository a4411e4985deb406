"""Group commit for arriving webhook bodies: each request is answered once its body is stored.

Requests hand their body to one writer, which stores everything that arrived meanwhile in
a single transaction and then answers them all; under load that is one commit for dozens
of requests instead of one each. If a group fails (another worker stored the same item a
moment earlier), its members are stored one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog
from sqlmodel import col, select

from bot.runtime import Runtime
from models.activity import RawItem
from models.db import insert_rows, unit_of_work
from models.integration import WebhookReceipt
from models.services.inbox import accept_raw, first_signature
from models.types import utcnow

log = structlog.get_logger(__name__)
Outcome = Literal["stored", "duplicate", "replayed"]
GROUP = 500


@dataclass
class Arrival:
    """One verified request waiting to be stored."""

    source: str
    key: str | None
    item_id: str
    body: bytes
    content_type: str
    done: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Intake:
    """The single writer of arriving bodies; ``stored()`` is called after each group commits."""

    def __init__(self, runtime: Runtime, stored: Callable[[], None]) -> None:
        self.runtime = runtime
        self.stored = stored
        self._queue: asyncio.Queue[Arrival] = asyncio.Queue()

    async def submit(self, arrival: Arrival) -> Outcome:
        """Queue a body and wait until it is stored (or known to be a duplicate or replay)."""
        await self._queue.put(arrival)
        return await arrival.done

    async def run(self, stop: asyncio.Event) -> None:
        """Store groups until ``stop`` is set; pending requests are finished first."""
        while not (stop.is_set() and self._queue.empty()):
            try:
                first = await asyncio.wait_for(self._queue.get(), timeout=0.2)
            except TimeoutError:
                continue
            group = [first]
            while not self._queue.empty() and len(group) < GROUP:
                group.append(self._queue.get_nowait())
            await self._store(group)

    async def _store(self, group: list[Arrival]) -> None:
        try:
            outcomes = await self._together(group)
        except Exception as exc:
            log.warning("intake.group_failed", size=len(group), error=type(exc).__name__)
            outcomes = []
            for arrival in group:
                try:
                    outcomes.append(await self._alone(arrival))
                except Exception as alone:
                    arrival.done.set_exception(alone)
                    outcomes.append("duplicate")
        for arrival, outcome in zip(group, outcomes, strict=True):
            if not arrival.done.done():
                arrival.done.set_result(outcome)
        self.stored()

    async def _together(self, group: list[Arrival]) -> list[Outcome]:
        workspace_id = self.runtime.workspace_id
        async with unit_of_work(self.runtime.sessions) as session:
            signed = {(a.source, a.key) for a in group if a.key is not None}
            seen_keys = set(
                (
                    await session.exec(
                        select(WebhookReceipt.source, WebhookReceipt.signature).where(
                            col(WebhookReceipt.signature).in_({k for _s, k in signed})
                        )
                    )
                ).all()
            )
            items = {(a.source, a.item_id[:500]) for a in group}
            seen_items = set(
                (
                    await session.exec(
                        select(RawItem.source, RawItem.external_id).where(
                            RawItem.workspace_id == workspace_id,
                            col(RawItem.external_id).in_({i for _s, i in items}),
                        )
                    )
                ).all()
            )
            outcomes: list[Outcome] = []
            receipts, raws = [], []
            for arrival in group:
                key = (arrival.source, arrival.key[:200] if arrival.key else "")
                item = (arrival.source, arrival.item_id[:500])
                if arrival.key is not None and key in seen_keys:
                    outcomes.append("replayed")
                    continue
                if arrival.key is not None:
                    seen_keys.add(key)
                    receipts.append(
                        {"source": key[0], "signature": key[1], "received_at": utcnow()}
                    )
                if item in seen_items:
                    outcomes.append("duplicate")
                    continue
                seen_items.add(item)
                raws.append(
                    {"workspace_id": workspace_id, "source": item[0], "external_id": item[1],
                     "content_type": arrival.content_type[:100], "body": arrival.body,
                     "received_at": utcnow(), "processed_at": None, "error": None}
                )  # fmt: skip
                outcomes.append("stored")
            await insert_rows(session, WebhookReceipt, receipts)
            await insert_rows(session, RawItem, raws)
        return outcomes

    async def _alone(self, arrival: Arrival) -> Outcome:
        async with unit_of_work(self.runtime.sessions) as session:
            if arrival.key is not None and not await first_signature(
                session=session, source=arrival.source, key=arrival.key
            ):
                return "replayed"
            stored = await accept_raw(
                session=session,
                workspace_id=self.runtime.workspace_id,
                source=arrival.source,
                external_id=arrival.item_id,
                body=arrival.body,
                content_type=arrival.content_type,
            )
        return "stored" if stored else "duplicate"
