"""Keep the garbage collector off the objects a long-running process starts with."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then set everything alive aside from the garbage collector.

    The libraries, the configuration and the model are a million objects that live as
    long as the process; a full collection walks them all (about 0.2 s here), and a bulk
    import or a busy server makes one every second or two. Frozen, they are skipped: a
    full collection walks only what was made since. Call it once the process has started
    (``nudge serve``, the bulk imports), not in a library function.
    """
    gc.collect()
    gc.freeze()
