"""Bulk capture: many inputs through the one ingestion path, in batches.

Parsing is CPU work and runs in a worker process while the event loop stores the
previous batch; each batch of activities is captured set-based in one transaction, so
a backfill of a mailbox costs a few queries per hundred messages, not per message.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from multiprocessing import get_context

import structlog

from bot.flows import capture, capture_all_in
from bot.runtime import Runtime
from handlers.reading import Raw, Reader, read_chunk, worker_started
from models.db import unit_of_work
from models.services.inputs import CaptureInput, QuarantineIn

log = structlog.get_logger(__name__)
BATCH = 500
POOL_THRESHOLD = 2 * BATCH


def _chunks(raws: Iterable[Raw], size: int) -> Iterator[list[Raw]]:
    iterator = iter(raws)
    while chunk := list(islice(iterator, size)):
        yield chunk


async def read_all(
    raws: Iterable[Raw], reader: Reader, *, parallel: bool
) -> AsyncIterator[tuple[int, list[CaptureInput]]]:
    """(raw items read, inputs) per batch, in order; with ``parallel`` worker processes read
    the next batches meanwhile.

    Until a worker is up (starting one takes a second or two) batches are read here, so
    no time is lost waiting; the pool is not waited for at the end either.
    """
    chunks = _chunks(raws, BATCH)
    if not parallel:
        for chunk in chunks:
            yield read_chunk(reader, chunk)
        return
    loop = asyncio.get_running_loop()
    workers = max(1, (os.cpu_count() or 2) - 1)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    try:
        started = pool.submit(worker_started)
        while not started.done():
            if not (chunk := next(chunks, [])):
                return
            yield read_chunk(reader, chunk)
        here = next(chunks, [])  # one more here while the workers take the next ones
        pending = [
            loop.run_in_executor(pool, read_chunk, reader, c) for c in islice(chunks, workers + 1)
        ]
        if here:
            yield read_chunk(reader, here)
        while pending:
            batch = await pending.pop(0)
            if chunk := next(chunks, []):
                pending.append(loop.run_in_executor(pool, read_chunk, reader, chunk))
            yield batch
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


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
    expected: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """Read and capture many raw items in batches; ``progress`` hears how many were done."""
    outcomes: Counter[str] = Counter()
    parallel = expected is not None and expected >= POOL_THRESHOLD
    async for read, batch in read_all(raws, reader, parallel=parallel):
        try:
            outcomes += await capture_batch(runtime, batch)
        except Exception:
            log.warning("bulk.batch_failed", size=len(batch))
            outcomes += await capture_one_by_one(runtime, batch)
        if progress is not None:
            progress(read)
    return outcomes
