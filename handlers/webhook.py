"""What a webhook source is: how to check its requests and how to read its bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from models.config import CrmConfig
from models.services.inputs import CaptureInput


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """An inbound webhook request as its verifier sees it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    form: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """A webhook endpoint: its path, the secret that signs it, and how to read it.

    ``verify`` returns a replay key or None, or raises ``SignatureError``;
    ``item_id`` names the item a body carries (the idempotency key);
    ``parse`` turns a stored body into capture inputs (it may raise: the body is
    then quarantined with the reason).
    """

    name: str
    path: str
    secret_variable: str
    verify: Callable[[SignedRequest, str, float], str | None]
    item_id: Callable[[bytes, Mapping[str, str]], str]
    parse: Callable[[bytes, str, CrmConfig, datetime], Sequence[CaptureInput]]


def body_digest(body: bytes) -> str:
    """A stable id for a body that names no item of its own.

    >>> body_digest(b"{}")[:12]
    'sha256:44136'
    """
    return "sha256:" + hashlib.sha256(body).hexdigest()
