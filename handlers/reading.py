"""Reading raw items in worker processes: only what a worker needs, so it starts quickly.

A worker process imports this module and the reader it is given, not the rest of Nudge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from models.services.inputs import CaptureInput

Reader = Callable[[bytes], Sequence[CaptureInput]]


def read_chunk(reader: Reader, chunk: list[bytes]) -> tuple[int, list[CaptureInput]]:
    """Read every raw item of a chunk: (items read, inputs)."""
    return len(chunk), [item for raw in chunk for item in reader(raw)]


def worker_started() -> None:
    """Nothing: its answer says a worker process is up."""
