"""Reading raw items in worker processes: only what a worker needs, so it starts quickly.

A worker process imports this module and the reader it is given, not the rest of Nudge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
