"""Outside text made fit for a column: storable characters, a length, a unique id."""

from __future__ import annotations

import hashlib


def storable(text: str) -> str:
    r"""Text any database can store: no NUL characters, no lone surrogates.

    >>> storable("a\x00b\ud800c")
    'ab?c'
    """
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def cut(text: str | None, limit: int) -> str | None:
    """Storable text that fits its column (outside input can be any length).

    >>> cut("x" * 600, 500) == "x" * 499 + "…"
    True
    """
    if text is None:
        return None
    text = storable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_id(external_id: str, limit: int = 500) -> str:
    """An external id that fits its column and stays unique (long ones end in their hash).

    >>> len(fit_id("m" * 900)), fit_id("short")
    (500, 'short')
    """
    clean = storable(external_id)
    if len(clean) <= limit and clean == external_id:
        return clean
    digest = hashlib.sha256(external_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{clean[: limit - 65]}#{digest}"
