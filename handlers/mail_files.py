"""Find messages in .eml files, folders of them, and mbox files, in a stable order."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAIL_SUFFIXES = frozenset({".eml", ".msg", ".txt"})


@dataclass(frozen=True, slots=True)
class MailFile:
    """A file of mail: one message, or an mbox holding ``messages``."""

    path: Path
    mbox: bool
    messages: int


def _is_mbox(path: Path) -> bool:
    if path.suffix.lower() == ".mbox":
        return True
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def _mail_file(path: Path) -> MailFile:
    if not _is_mbox(path):
        return MailFile(path, mbox=False, messages=1)
    with path.open("rb") as handle:
        count = sum(1 for line in handle if line.startswith(b"From "))
    return MailFile(path, mbox=True, messages=count)


def find_mail(paths: Iterable[Path]) -> list[MailFile]:
    """Every file of mail under the given files and folders (a folder's other files skipped)."""
    found = []
    for path in paths:
        if path.is_dir():
            children = sorted(p for p in path.rglob("*") if p.is_file())
            found += [
                _mail_file(child)
                for child in children
                if child.suffix.lower() in MAIL_SUFFIXES or child.suffix.lower() == ".mbox"
            ]
        elif path.is_file():
            found.append(_mail_file(path))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def read_messages(files: Iterable[MailFile]) -> Iterator[tuple[str, bytes | Path]]:
    """(where, message) for every message of the files.

    A message of an mbox comes as its bytes; a file holding one message comes as its
    path, to be read where it is parsed (a worker process, in a bulk import).
    """
    for file in files:
        if not file.mbox:
            yield str(file.path), file.path
            continue
        box = mailbox.mbox(file.path, create=False)
        try:
            for key, message in box.iteritems():
                yield f"{file.path}#{key}", message.as_bytes()
        finally:
            box.close()
