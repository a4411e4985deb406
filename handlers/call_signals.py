"""Signals in what was said on a call: keyword lists from ``crm.capture.signals``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any


def _words(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").lower().split())


@lru_cache(maxsize=64)
def _pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    words = sorted({_words(k) for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, w.split(" "))) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def transcript_signals(text: str, signals: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Each list's keywords that the text mentions: one entry per mention, in order.

    Case-insensitive, whole words only, any whitespace between the words of a phrase.

    >>> lists = {"pricing": ["price", "quote"], "next_steps": ["follow up"], "competitors": []}
    >>> transcript_signals("Priceless! The PRICE? A quote, a Quote; then follow\\n up.", lists)
    {'pricing': ['price', 'quote', 'quote'], 'next_steps': ['follow up'], 'competitors': []}
    >>> transcript_signals("Let\u2019s meet Tuesday", {"next_steps": ["let's meet"]})
    {'next_steps': ["let's meet"]}
    """
    plain = text.replace("\u2019", "'")
    found: dict[str, list[str]] = {}
    for name, keywords in signals.items():
        pattern = _pattern(tuple(keywords))
        found[name] = [_words(m.group()) for m in pattern.finditer(plain)] if pattern else []
    return found


def signal_facts(text: str, signals: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """Per signal list: how often the text hits it and which keywords (no other text)."""
    return {
        name: {"count": len(hits), "keywords": sorted(set(hits))}
        for name, hits in transcript_signals(text, signals).items()
    }
