"""Bulk reading: batches come back whole and in order, whoever read them (this process while
the workers start, then the workers)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from bot.bulk import BATCH, read_all
from models.services.inputs import SkippedIn


def numbered(raw: bytes) -> Sequence[SkippedIn]:
    """A slow reader (so that reading is shared out): the item's number, and who read it."""
    time.sleep(0.0005)
    return [SkippedIn("test", raw.decode(), str(os.getpid()))]


async def test_parallel_reading_keeps_every_item_in_order() -> None:
    raws = [str(n).encode() for n in range(BATCH * 6 + 7)]
    seen: list[int] = []
    readers: set[str] = set()
    async for read, batch in read_all(raws, numbered, parallel=True):
        assert read == len(batch)
        items = [item for item in batch if isinstance(item, SkippedIn)]
        seen += [int(item.external_id) for item in items]
        readers |= {item.reason for item in items}
    assert seen == list(range(len(raws)))
    assert str(os.getpid()) in readers  # the first batches are read here, not waited for
