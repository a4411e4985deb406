"""Read messages from .eml files, folders of them, and mbox files, in a stable order."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from pathlib import Path

MAIL_SUFFIXES = frozenset({".eml", ".msg", ".txt"})


def _is_mbox(path: Path) -> bool:
    if path.suffix.lower() == ".mbox":
        return True
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def _from_file(path: Path) -> Iterator[tuple[str, bytes]]:
    if _is_mbox(path):
        box = mailbox.mbox(path, create=False)
        try:
            for key, message in box.iteritems():
                yield f"{path}#{key}", message.as_bytes()
        finally:
            box.close()
    else:
        yield str(path), path.read_bytes()


def read_messages(paths: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(where, raw bytes) for every message under the given files and folders."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in MAIL_SUFFIXES or child.suffix.lower() == ".mbox":
                    yield from _from_file(child)
        elif path.is_file():
            yield from _from_file(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")


def count_messages(paths: Iterable[Path]) -> int:
    """How many messages the paths hold (a quick scan: mbox separators, mail files)."""
    total = 0
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            suffix = file.suffix.lower()
            if path.is_dir() and suffix not in MAIL_SUFFIXES and suffix != ".mbox":
                continue
            if file.is_file() and _is_mbox(file):
                with file.open("rb") as handle:
                    total += sum(1 for line in handle if line.startswith(b"From "))
            elif file.is_file():
                total += 1
    return total
