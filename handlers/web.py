"""Web-tracking facts: which kind of page a visit was to.

>>> page_category("https://acme.example/pricing?plan=team")
'pricing'
>>> page_category("https://acme.example/case-studies/globex")
'case-studies'
>>> page_category("https://acme.example/")
'home'
"""

from __future__ import annotations

from urllib.parse import urlsplit


def page_category(url: str) -> str:
    """The first path segment of a URL, the way features group pages."""
    path = urlsplit(url).path.strip("/")
    return path.split("/", 1)[0].lower() if path else "home"
