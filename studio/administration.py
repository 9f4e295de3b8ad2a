"""A guild's admins change its settings: every call checks Manage Server, then the store
validates, stores and records the change (``studio.guild_settings``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from studio.errors import InvalidSetting, ManagersOnly
from studio.guild_settings import SCALAR_SETTINGS, GuildSettings, GuildSettingsStore, SettingChange
from studio.types import Requester

T = TypeVar("T")

RESETTABLE: tuple[str, ...] = tuple(
    name for name in SCALAR_SETTINGS if GuildSettings.model_fields[name].default is None
)
"""The scalar settings whose default is "none" (the instance's default, no quota, ...): not
``nsfw_policy`` or the quota's unit, hour and policy, which are set to another value instead."""


class SettingsDesk:
    def __init__(self, guilds: GuildSettingsStore) -> None:
        self.guilds = guilds

    @staticmethod
    def _require_manager(who: Requester) -> None:
        """Discord hides ``/settings`` from members without Manage Server, but a guild may
        override that, so every call checks the member's own permission."""
        if not who.guild_id or not who.manage_guild:
            raise ManagersOnly("You need the manage_guild permission for this.")

    async def _call(self, who: Requester, call: Callable[..., T], *args: Any, **kw: Any) -> T:
        self._require_manager(who)
        return await asyncio.to_thread(call, *args, **kw)

    async def view(self, who: Requester) -> GuildSettings:
        return await self._call(who, self.guilds.get, who.guild_id)

    async def history(self, who: Requester, limit: int = 15) -> list[SettingChange]:
        return await self._call(who, self.guilds.history, who.guild_id, limit)

    async def set_many(
        self,
        who: Requester,
        values: dict[str, Any],
        *,
        field: str = "options",
        labels: list[str] | None = None,
    ) -> GuildSettings:
        """Set the scalar settings given (``None`` values are left out); at least one
        (``field`` and ``labels``: how the front end names the group and its options)."""
        self._require_manager(who)
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            raise InvalidSetting(field, f"give at least one of {', '.join(labels or values)}")
        return await self._call(who, self.guilds.set_many, who.guild_id, who.user_id, given)

    async def reset(self, who: Requester, setting: str) -> GuildSettings:
        if setting not in RESETTABLE:
            raise InvalidSetting("setting", f"use one of {', '.join(RESETTABLE)}")
        return await self._call(who, self.guilds.set, who.guild_id, who.user_id, setting, None)

    async def set_policy(
        self, who: Requester, policy: str, channel_id: int | None = None
    ) -> GuildSettings:
        """The server's NSFW policy, or one channel's (``inherit``: follow the server's)."""
        if channel_id is None:
            if policy == "inherit":
                raise InvalidSetting("nsfw_policy", "'inherit' needs a channel")
            return await self._call(
                who, self.guilds.set, who.guild_id, who.user_id, "nsfw_policy", policy
            )
        value = None if policy == "inherit" else policy
        return await self._call(
            who, self.guilds.set_channel_nsfw, who.guild_id, who.user_id, channel_id, value
        )

    async def set_allowed_models(self, who: Requester, names: Iterable[str]) -> GuildSettings:
        return await self._call(
            who, self.guilds.set_allowed_models, who.guild_id, who.user_id, list(names)
        )

    async def set_approval(self, who: Requester, channel_id: int, enabled: bool) -> GuildSettings:
        return await self._call(
            who, self.guilds.set_approval, who.guild_id, who.user_id, channel_id, enabled
        )

    async def set_role(
        self, who: Requester, setting: str, role_id: int, enabled: bool
    ) -> GuildSettings:
        """Add a role to, or remove it from, ``fast_roles`` or ``quota_exempt_roles``."""
        return await self._call(
            who, self.guilds.set_role, who.guild_id, who.user_id, setting, role_id, enabled
        )

    async def add_term(self, who: Requester, text: str, *, regex: bool) -> GuildSettings:
        return await self._call(
            who, self.guilds.add_term, who.guild_id, who.user_id, text, is_regex=regex
        )

    async def remove_term(self, who: Requester, text: str) -> GuildSettings:
        return await self._call(who, self.guilds.remove_term, who.guild_id, who.user_id, text)

    async def add_exemption(self, who: Requester, text: str) -> GuildSettings:
        return await self._call(who, self.guilds.add_exemption, who.guild_id, who.user_id, text)

    async def remove_exemption(self, who: Requester, text: str) -> GuildSettings:
        return await self._call(who, self.guilds.remove_exemption, who.guild_id, who.user_id, text)

    async def add_preset(self, who: Requester, values: dict[str, Any]) -> GuildSettings:
        """Add or replace one of the guild's own style presets (``None`` values left out)."""
        given = {k: v for k, v in values.items() if v is not None}
        return await self._call(who, self.guilds.add_preset, who.guild_id, who.user_id, given)

    async def remove_preset(self, who: Requester, name: str) -> GuildSettings:
        return await self._call(who, self.guilds.remove_preset, who.guild_id, who.user_id, name)
