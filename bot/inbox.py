"""Webhooks in: verify, store, answer at once; process the stored bodies after.

A request is answered 2xx as soon as its body is safely stored (or known already);
parsing and scoring follow in the background. A body that cannot be parsed goes to
quarantine with the reason, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from bot.flows import capture_all_in, capture_in
from bot.intake import Arrival, Intake
from bot.runtime import Runtime
from bot.settings import SettingsError
from handlers.signing import SignatureError
from handlers.webhook import SignedRequest, WebhookSource, body_digest
from models.db import is_clash, unit_of_work
from models.services.inbox import lock_raw, lock_raws, mark_processed, pending_raw
from models.services.inputs import ActivityIn, CaptureInput, QuarantineIn
from models.types import utcnow

log = structlog.get_logger(__name__)
MAX_BODY = 5 * 1024 * 1024
CLASH_TRIES = 4
GATHER_STEP_S = 0.01
GATHER_MAX_S = 0.2
"""While bodies keep arriving, the inbox waits (in steps, up to the most) before processing:
a burst becomes one batch, which costs about a fifth of the same bodies one by one (P1:
about 700 -> 1,000 webhook events a second); a lone body waits one step."""


class Inbox:
    """Processes stored webhook bodies in arrival order; ``wake()`` after storing one."""

    def __init__(self, runtime: Runtime, sources: Sequence[WebhookSource]) -> None:
        self.runtime = runtime
        self.sources = {source.name: source for source in sources}
        self._wake = asyncio.Event()
        self._arrivals = 0

    def wake(self) -> None:
        """Something was stored: process soon."""
        self._arrivals += 1
        self._wake.set()

    async def run_once(self) -> int:
        """Process every pending body, a batch per transaction; returns how many."""
        done = 0
        while True:
            async with unit_of_work(self.runtime.sessions) as session:
                ids = await pending_raw(session=session, sources=frozenset(self.sources))
            if not ids:
                return done
            try:
                done += await self._capture_batch(ids)
            except Exception as exc:
                log.warning("inbox.batch_failed", size=len(ids), error=type(exc).__name__)
                done += sum([await self._process(raw_id) for raw_id in ids])

    async def _capture_batch(self, ids: list[int]) -> int:
        """All the bodies in one transaction: activities set-based, the rest one by one."""
        async with unit_of_work(self.runtime.sessions) as session:
            raws = await lock_raws(session=session, raw_ids=ids)
            items: list[CaptureInput] = []
            for raw in raws:
                items += [
                    replace(item, raw=None, raw_item_id=raw.id)
                    if isinstance(item, ActivityIn)
                    else item
                    for item in self._parse(raw.source, raw.body, raw.content_type, raw.external_id)
                ]
            await mark_processed(session=session, raw_ids=[raw.id for raw in raws], at=utcnow())
            await capture_all_in(session, self.runtime, items)
        return len(raws)

    async def _process(self, raw_id: int) -> int:
        """Capture one body; if storing it fails, quarantine it so it never blocks the rest.

        A clash with another worker writing the same contact or account at the same moment
        (a unique key, a deadlock, a serialization failure: ``is_clash``) is tried again, up to
        ``CLASH_TRIES`` times: the second try sees the other worker's committed rows.
        """
        error: Exception | None = None
        for attempt in range(1, CLASH_TRIES + 1):
            try:
                return await self._capture(raw_id)
            except Exception as exc:
                error = exc
                if not is_clash(exc):
                    break
                log.info("inbox.clash", raw_id=raw_id, attempt=attempt, error=type(exc).__name__)
        log.warning("inbox.unstorable", raw_id=raw_id, error=type(error).__name__)
        return await self._set_aside(raw_id, f"could not be stored: {type(error).__name__}")

    async def _set_aside(self, raw_id: int, reason: str) -> int:
        async with unit_of_work(self.runtime.sessions) as session:
            raw = await lock_raw(session=session, raw_id=raw_id)
            if raw is None:
                return 0
            item = QuarantineIn(raw.source, reason, raw.body, raw.external_id)
            await capture_in(session, self.runtime, item)
            raw.processed_at, raw.error = utcnow(), reason
            session.add(raw)
        return 1

    async def _capture(self, raw_id: int) -> int:
        async with unit_of_work(self.runtime.sessions) as session:
            raw = await lock_raw(session=session, raw_id=raw_id)
            if raw is None:
                return 0
            for item in self._parse(raw.source, raw.body, raw.content_type, raw.external_id):
                if isinstance(item, ActivityIn):
                    item = replace(item, raw=None, raw_item_id=raw.id)
                await capture_in(session, self.runtime, item)
            raw.processed_at = utcnow()
            session.add(raw)
        return 1

    def _parse(
        self, source: str, body: bytes, content_type: str, external_id: str
    ) -> Sequence[CaptureInput]:
        crm = self.runtime.config.crm
        try:
            return self.sources[source].parse(body, content_type, crm, self.runtime.clock())
        except Exception as exc:
            log.warning("inbox.unparseable", source=source, error=type(exc).__name__)
            reason = f"cannot read {source} webhook: {type(exc).__name__}: {exc}"
            return [QuarantineIn(source=source, reason=reason, raw=body, external_id=external_id)]

    async def run_forever(self, stop: asyncio.Event, *, interval_s: float = 5.0) -> None:
        """Process on every wake-up (and every few seconds, for bodies left by a crash).

        After a wake-up it lets the rest of a burst arrive first (:meth:`_gather`).
        """
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("inbox.error")
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=interval_s, return_when="FIRST_COMPLETED")
            waiter.cancel()
            stopper.cancel()
            if not stop.is_set():
                await self._gather()

    async def _gather(self) -> None:
        """Wait while bodies keep arriving, up to :data:`GATHER_MAX_S`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_MAX_S
        seen = self._arrivals
        while loop.time() < deadline:
            await asyncio.sleep(GATHER_STEP_S)
            if self._arrivals == seen:
                return  # the burst is over
            seen = self._arrivals


def _secret(runtime: Runtime, source: WebhookSource) -> str | None:
    try:
        return runtime.settings.reveal(source.secret_variable)
    except SettingsError:
        return None


def _form(request: web.Request, body: bytes) -> Mapping[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def webhook_handler(
    runtime: Runtime,
    intake: Intake,
    source: WebhookSource,
    *,
    clock: Callable[[], float] = time.time,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of one source: 401 for a bad signature, else store and 200."""

    async def handle(request: web.Request) -> web.Response:
        secret = _secret(runtime, source)
        if secret is None:
            return web.json_response(
                {"ok": False, "error": f"{source.secret_variable} is not configured"}, status=503
            )
        body = await request.read()
        if len(body) > MAX_BODY:
            return web.json_response({"ok": False, "error": "body too large"}, status=413)
        url = runtime.settings.public_url.rstrip("/") + request.path_qs
        signed = SignedRequest(request.method, url, request.headers, body, _form(request, body))
        try:
            key = source.verify(signed, secret, clock())
        except SignatureError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=401)
        try:
            item_id = source.item_id(body, signed.form)
        except (ValueError, KeyError, TypeError, RecursionError):
            item_id = body_digest(body)
        outcome = await intake.submit(
            Arrival(source.name, key, item_id, body, request.content_type)
        )
        if outcome == "replayed":
            return web.json_response({"ok": False, "error": "replayed request"}, status=401)
        return web.json_response({"ok": True, "duplicate": outcome == "duplicate"})

    return handle
