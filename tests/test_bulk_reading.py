"""Bulk reading: batches come back whole and in order, whoever read them (this process while
the workers start, then the workers)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

from bot.bulk import BATCH, read_all
from handlers.reading import Readers
from models.services.inputs import SkippedIn


def numbered(raw: bytes) -> Sequence[SkippedIn]:
    """A slow reader (so that reading is shared out): the item's number, and who read it."""
    time.sleep(0.0005)
    return [SkippedIn("test", raw.decode(), str(os.getpid()))]


async def test_parallel_reading_keeps_every_item_in_order() -> None:
    raws = [str(n).encode() for n in range(BATCH * 6 + 7)]
    seen: list[int] = []
    pids: set[str] = set()
    with Readers() as readers:
        batches = [batch async for batch in read_all(raws, numbered, readers)]
    for read, batch in batches:
        assert read == len(batch)
        items = [item for item in batch if isinstance(item, SkippedIn)]
        seen += [int(item.external_id) for item in items]
        pids |= {item.reason for item in items}
    assert seen == list(range(len(raws)))
    assert str(os.getpid()) in pids  # the first batches are read here, not waited for


async def test_started_readers_read_in_their_own_processes() -> None:
    raws = [str(n).encode() for n in range(BATCH * 4)]
    with Readers() as readers:
        while not readers.ready:  # noqa: ASYNC110 - a process pool's future, not the loop's
            await asyncio.sleep(0.05)
        batches = [batch async for batch in read_all(raws, numbered, readers)]
    pids = {
        item.reason for _read, batch in batches for item in batch if isinstance(item, SkippedIn)
    }
    assert len(pids) == 2  # one batch here while the worker takes the next, then the worker
