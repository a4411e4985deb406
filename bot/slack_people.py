"""What Slack knows about the team: roles from user groups, time zones from profiles.

While ``nudge serve`` runs, :class:`SlackPeople` refreshes both in the background, off the
path of Slack's 3 s ack: once a minute it re-reads the user groups ``crm.roles`` names
(``usergroups.users.list``) and writes everyone's effective role, and it reads each known
person's zone (``users.info``, ``user.tz``) at most once an hour. Slack's zone wins over
app.yaml's ``tz``, so quiet hours and the morning digest follow it; an error or a zone this
system does not know leaves the stored one as it is. A ``user_change`` event updates one
person's zone at once (:func:`remember_zone`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.roles import apply_roles, role_groups, store_group_members
from models.services.workspaces import set_time_zones, slack_user_ids

log = structlog.get_logger(__name__)
REFRESH_EVERY_S = 60.0
ZONE_TTL_S = 3600.0
_SLACK_FAILURES = (SlackClientError, aiohttp.ClientError, OSError, TimeoutError)


def known_zone(name: object) -> str | None:
    """``name`` when it is an IANA time zone known here, else None.

    >>> known_zone("Europe/Berlin"), known_zone("Mars/Olympus_Mons"), known_zone(None)
    ('Europe/Berlin', None, None)
    """
    if not isinstance(name, str) or not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def zone_of_profile(user: object) -> str | None:
    """The known zone in a Slack user object (``users.info``, ``user_change``), else None."""
    return known_zone(user.get("tz")) if isinstance(user, dict) else None


def _failure(exc: Exception) -> str:
    """Slack's error code, or the kind of network failure."""
    return str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__


async def slack_zone(client: AsyncWebClient, slack_user_id: str) -> str | None:
    """The zone Slack holds for a person, or None when Slack cannot tell."""
    try:
        response = await client.users_info(user=slack_user_id)
    except _SLACK_FAILURES as exc:
        log.warning("people.zone_unreadable", error=_failure(exc))
        return None
    zone = zone_of_profile(response.get("user"))
    if zone is None:
        log.warning("people.zone_unknown")
    return zone


async def store_zones(runtime: Runtime, zones: Mapping[str, str]) -> int:
    """Write zones learned from Slack, by Slack id; returns how many changed."""
    async with unit_of_work(runtime.sessions) as session:
        changed = await set_time_zones(
            session=session, workspace_id=runtime.workspace_id, zones=zones
        )
    if changed:
        log.info("people.zones_changed", count=changed)
    return changed


async def remember_zone(runtime: Runtime, user: object) -> int:
    """Keep the zone of a Slack user object (from a ``user_change`` event); 1 if it changed."""
    slack_user_id = user.get("id") if isinstance(user, dict) else None
    zone = zone_of_profile(user)
    if not isinstance(slack_user_id, str) or zone is None:
        return 0
    return await store_zones(runtime, {slack_user_id: zone})


async def _group_members(client: AsyncWebClient, group: str) -> list[str] | None:
    try:
        response = await client.usergroups_users_list(usergroup=group)
    except _SLACK_FAILURES as exc:
        log.warning("roles.group_unreadable", group=group, error=_failure(exc))
        return None
    return [str(u) for u in response.get("users") or []]


async def refresh_roles(runtime: Runtime, client: AsyncWebClient) -> None:
    """Re-read the user groups ``crm.roles`` names and write everyone's effective role."""
    groups = {}
    for group in role_groups(runtime.config.crm):
        members = await _group_members(client, group)
        if members is not None:
            groups[group] = members
    async with unit_of_work(runtime.sessions) as session:
        await store_group_members(
            session=session, workspace_id=runtime.workspace_id, members=groups
        )
        await apply_roles(
            session=session, workspace_id=runtime.workspace_id, config=runtime.config.crm,
            actor="slack:usergroups",
        )  # fmt: skip


class SlackPeople:
    """Keeps roles and time zones in step with Slack; each person's zone is read at most
    once per ``zone_ttl_s``."""

    def __init__(
        self,
        runtime: Runtime,
        client: AsyncWebClient,
        *,
        zone_ttl_s: float = ZONE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.zone_ttl_s = zone_ttl_s
        self.clock = clock
        self._zone_read_at: dict[str, float] = {}

    async def refresh_zones(self) -> int:
        """Read the zone of everyone not read within the TTL; returns how many changed."""
        zones: dict[str, str] = {}
        for slack_user_id in await self._zones_due():
            self._zone_read_at[slack_user_id] = self.clock()
            zone = await slack_zone(self.client, slack_user_id)
            if zone is not None:
                zones[slack_user_id] = zone
        return await store_zones(self.runtime, zones)

    async def _zones_due(self) -> list[str]:
        async with unit_of_work(self.runtime.sessions) as session:
            known = await slack_user_ids(session=session, workspace_id=self.runtime.workspace_id)
        now = self.clock()
        never = float("-inf")
        return [s for s in known if now - self._zone_read_at.get(s, never) >= self.zone_ttl_s]

    async def refresh(self) -> None:
        """Roles, then the zones that are due; a failure of either is logged, not raised."""
        try:
            await refresh_roles(self.runtime, self.client)
        except Exception:
            log.exception("roles.refresh_failed")
        try:
            await self.refresh_zones()
        except Exception:
            log.exception("people.zones_failed")

    async def keep(self, stop: asyncio.Event, *, every_s: float = REFRESH_EVERY_S) -> None:
        """Refresh now, then every ``every_s``, until ``stop`` is set."""
        while not stop.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    @contextlib.asynccontextmanager
    async def running(self, *, every_s: float = REFRESH_EVERY_S) -> AsyncIterator[None]:
        """:meth:`keep` in the background while the block runs; the round under way ends."""
        stop = asyncio.Event()
        keeper = asyncio.create_task(self.keep(stop, every_s=every_s))
        try:
            yield
        finally:
            stop.set()
            await keeper
