"""Replacing a person's identifiers in text, JSON and bytes (for erasure)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

ERASED = "[erased]"


def _pattern(needles: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)


def scrub_text(text: str, needles: Sequence[str]) -> str:
    """Text with every needle replaced, case-insensitively.

    >>> scrub_text("Hi Ana Silva <ana@globex.example>", ["ana@globex.example", "Ana Silva"])
    'Hi [erased] <[erased]>'
    """
    return _pattern(needles).sub(ERASED, text)


def scrub_json(document: Any, needles: Sequence[str]) -> Any:
    """A JSON document with every needle replaced inside its strings and keys."""
    encoded = [json.dumps(n)[1:-1] for n in needles]
    return json.loads(_pattern(encoded).sub(ERASED, json.dumps(document)))


def scrub_bytes(body: bytes, needles: Sequence[str]) -> bytes:
    """Bytes with every needle (as UTF-8) replaced, case-insensitively."""
    pattern = re.compile(b"|".join(re.escape(n.encode()) for n in needles), re.IGNORECASE)
    return pattern.sub(ERASED.encode(), body)
