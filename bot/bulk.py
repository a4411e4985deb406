"""Bulk capture: many inputs through the one ingestion path, in batches.

Parsing is CPU work and runs in a worker process while the event loop stores the
previous batch; each batch of activities is captured set-based in one transaction, so
a backfill of a mailbox costs a few queries per hundred messages, not per message.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from itertools import islice

import structlog

from bot.flows import capture, capture_all_in
from bot.runtime import Runtime
from handlers.reading import Raw, Reader, Readers, read_chunk
from models.db import unit_of_work
from models.services.inputs import CaptureInput, QuarantineIn

log = structlog.get_logger(__name__)
BATCH = 500


def _chunks(raws: Iterable[Raw], size: int) -> Iterator[list[Raw]]:
    iterator = iter(raws)
    while chunk := list(islice(iterator, size)):
        yield chunk


async def read_all(
    raws: Iterable[Raw], reader: Reader, readers: Readers | None = None
) -> AsyncIterator[tuple[int, list[CaptureInput]]]:
    """(raw items read, inputs) per batch, in order; with ``readers`` their worker processes
    read the next batches meanwhile.

    Until a worker is up, batches are read here: no time is lost waiting for it.
    """
    chunks = _chunks(raws, BATCH)
    if readers is None:
        for chunk in chunks:
            yield read_chunk(reader, chunk)
        return
    while not readers.ready:
        if not (chunk := next(chunks, [])):
            return
        yield read_chunk(reader, chunk)
    loop = asyncio.get_running_loop()
    here = next(chunks, [])  # one more here while the workers take the next ones
    pending = [
        loop.run_in_executor(readers.pool, read_chunk, reader, c)
        for c in islice(chunks, readers.workers + 1)
    ]
    if here:
        yield read_chunk(reader, here)
    while pending:
        batch = await pending.pop(0)
        if chunk := next(chunks, []):
            pending.append(loop.run_in_executor(readers.pool, read_chunk, reader, chunk))
        yield batch


async def capture_batch(runtime: Runtime, batch: Sequence[CaptureInput]) -> Counter[str]:
    """One transaction for the whole batch."""
    async with unit_of_work(runtime.sessions) as session:
        return await capture_all_in(session, runtime, batch)


async def capture_one_by_one(runtime: Runtime, batch: Sequence[CaptureInput]) -> Counter[str]:
    """The slow, safe way: each input alone, and one that still fails is quarantined."""
    outcomes: Counter[str] = Counter()
    for item in batch:
        try:
            outcomes[await capture(runtime, item)] += 1
        except Exception as exc:
            raw = getattr(item, "raw", None) or repr(item).encode()
            reason = f"could not be stored: {type(exc).__name__}"
            await capture(runtime, QuarantineIn(item.source, reason, raw, item.external_id))
            outcomes["quarantined"] += 1
    return outcomes


async def capture_many(
    runtime: Runtime,
    raws: Iterable[Raw],
    reader: Reader,
    *,
    readers: Readers | None = None,
    progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """Read (with ``readers``, in worker processes) and capture many raw items in batches;
    ``progress`` hears how many were done."""
    outcomes: Counter[str] = Counter()
    async for read, batch in read_all(raws, reader, readers):
        try:
            outcomes += await capture_batch(runtime, batch)
        except Exception:
            log.warning("bulk.batch_failed", size=len(batch))
            outcomes += await capture_one_by_one(runtime, batch)
        if progress is not None:
            progress(read)
    return outcomes
