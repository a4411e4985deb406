"""Where Nudge may send webhooks: the public internet, unless the deployment allows more.

An outbound webhook's URL is chosen by whoever holds a ``webhooks:write`` token, so
without a guard it could make Nudge post into its own network: a cloud metadata
address, a database's HTTP port, an admin page on localhost. Private, loopback,
link-local and reserved addresses are refused when a subscription is made (for an
address written in the URL) and again when each request connects, after the name is
resolved (a name can point anywhere, and can change), by the resolver the client uses.
A deployment whose receivers live on its own network sets
``NUDGE_WEBHOOKS_TO_PRIVATE_NETWORKS=true``.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class PrivateAddressError(OSError):
    """The destination is on a private, loopback, link-local or reserved network."""


def is_public(address: str) -> bool:
    """Whether an IP address is one the public internet routes to.

    >>> [is_public(a) for a in ("93.184.215.14", "10.1.2.3", "127.0.0.1", "169.254.169.254")]
    [True, False, False, False]
    >>> is_public("::ffff:127.0.0.1"), is_public("fd00::1"), is_public("2606:4700::1111")
    (False, False, True)
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why a webhook URL is refused as written, or None (names are checked on connect).

    >>> url_problem("https://hooks.example.com/nudge", allow_private=False) is None
    True
    >>> url_problem("http://169.254.169.254/latest/meta-data", allow_private=False)
    'the address 169.254.169.254 is on a private or reserved network'
    >>> url_problem("ftp://example.com/", allow_private=False)
    'the URL must start with http:// or https://'
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must start with http:// or https://"
    if allow_private:
        return None
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        return f"the host {host} is this machine"
    try:
        public = is_public(host)
    except ValueError:
        return None  # a name: checked when it is resolved
    return None if public else f"the address {host} is on a private or reserved network"


class PublicOnlyResolver(AbstractResolver):
    """Resolves as usual, and refuses a name if any of its addresses is not public."""

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host``, all public, or :class:`PrivateAddressError`."""
        found = await self._resolver.resolve(host, port, family)
        if not all(is_public(result["host"]) for result in found):
            raise PrivateAddressError(f"{host} resolves to a private or reserved address")
        return found

    async def close(self) -> None:
        """Release the underlying resolver."""
        await self._resolver.close()


def webhook_client(*, allow_private: bool) -> aiohttp.ClientSession:
    """An HTTP client for webhooks: public destinations only, unless allowed."""
    if allow_private:
        return aiohttp.ClientSession()
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=PublicOnlyResolver()))
