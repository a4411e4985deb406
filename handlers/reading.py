"""Reading raw items in worker processes: only what a worker needs, so it starts quickly.

A worker process imports this module and the reader it is given, not the rest of Nudge.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from models.services.inputs import CaptureInput

Reader = Callable[[bytes], Sequence[CaptureInput]]
Raw = bytes | Path
"""A raw item, or the file that holds it (read by the worker that reads the item)."""


def read_chunk(reader: Reader, chunk: list[Raw]) -> tuple[int, list[CaptureInput]]:
    """Read every raw item of a chunk: (items read, inputs)."""
    return len(chunk), [item for raw in chunk for item in reader(_bytes_of(raw))]


def _bytes_of(raw: Raw) -> bytes:
    return raw.read_bytes() if isinstance(raw, Path) else raw


def worker_started() -> None:
    """Nothing: its answer says a worker process is up."""


PARALLEL_FROM = 1000
"""Fewer items than this are read sooner here than a worker process starts."""


class Readers:
    """Worker processes that read raw items (one per core but one, the other stores).

    A worker takes about half a second to start, so start them before the items are at
    hand: ``nudge import-mail`` does it before opening the database. Closing does not
    wait for them to exit.
    """

    def __init__(self) -> None:
        self.workers = max(1, (os.cpu_count() or 2) - 1)
        self.pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        self._started = self.pool.submit(worker_started)

    @property
    def ready(self) -> bool:
        """Whether a worker is up (until then, reading here is quicker than waiting)."""
        return self._started.done()

    def close(self) -> None:
        """Let the workers go; anything not yet read is dropped."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
