"""The world the loopback Discord shows a bot: one guild, its channels, roles and members.

Payloads carry every key discord.py 2.x reads with ``data[...]`` (a missing one ends
``Client.start()`` with a KeyError), and nothing more.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
USE_APPLICATION_COMMANDS = 1 << 31
MEMBER_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES
MEMBER_PERMISSIONS |= USE_APPLICATION_COMMANDS
MODERATOR_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_MESSAGES
ADMIN_PERMISSIONS = MODERATOR_PERMISSIONS | MANAGE_GUILD

_counter = itertools.count()


def snowflake() -> int:
    """A fresh id whose timestamp is now, as Discord's (discord.py derives created_at from it)."""
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0x3FFFFF)


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class FakeUser:
    id: int
    username: str
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.username,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
        }


GUILD_TEXT = 0
DM = 1


@dataclass
class FakeChannel:
    """A guild text channel, or (``recipient`` set) the DM channel between the bot and a user."""

    id: int
    name: str
    nsfw: bool = False
    position: int = 0
    deleted: bool = False
    bot_can_send: bool = True
    recipient: FakeUser | None = None

    @property
    def is_dm(self) -> bool:
        return self.recipient is not None

    def payload(self, guild_id: int) -> dict[str, Any]:
        if self.recipient is not None:
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": None,
                "recipients": [self.recipient.payload()],
                "flags": 0,
            }
        return {
            "id": str(self.id),
            "type": GUILD_TEXT,
            "guild_id": str(guild_id),
            "name": self.name,
            "position": self.position,
            "nsfw": self.nsfw,
            "topic": None,
            "parent_id": None,
            "permission_overwrites": [],
            "rate_limit_per_user": 0,
            "last_message_id": None,
        }


@dataclass
class FakeGuild:
    """One guild: a general channel, an art channel, an age-restricted channel, three roles
    (@everyone, Moderators, Boosters)."""

    id: int = field(default_factory=snowflake)
    name: str = "Loopback Guild"
    owner_id: int = 0
    channels: dict[str, FakeChannel] = field(default_factory=dict)
    moderator_role_id: int = field(default_factory=snowflake)
    booster_role_id: int = field(default_factory=snowflake)
    members: dict[int, FakeUser] = field(default_factory=dict)
    member_roles: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.channels:
            for position, (name, nsfw) in enumerate(
                (("general", False), ("art", False), ("after-dark", True))
            ):
                self.channels[name] = FakeChannel(snowflake(), name, nsfw=nsfw, position=position)

    def channel(self, name_or_id: str | int) -> FakeChannel:
        for channel in self.channels.values():
            if name_or_id in (channel.name, channel.id):
                return channel
        raise KeyError(f"no channel {name_or_id!r} in the loopback guild")

    def roles_payload(self) -> list[dict[str, Any]]:
        def role(role_id: int, name: str, permissions: int, position: int) -> dict[str, Any]:
            return {
                "id": str(role_id),
                "name": name,
                "color": 0,
                "colors": {"primary_color": 0},
                "hoist": False,
                "position": position,
                "permissions": str(permissions),
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }

        return [
            role(self.id, "@everyone", MEMBER_PERMISSIONS, 0),
            role(self.moderator_role_id, "Moderators", MODERATOR_PERMISSIONS, 1),
            role(self.booster_role_id, "Boosters", MEMBER_PERMISSIONS, 2),
        ]

    def role_payload(self, role_id: int) -> dict[str, Any]:
        for role in self.roles_payload():
            if int(role["id"]) == role_id:
                return role
        raise KeyError(f"no role {role_id} in the loopback guild")

    def member_payload(self, user: FakeUser, permissions: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "user": user.payload(),
            "roles": [str(r) for r in self.member_roles.get(user.id, [])],
            "flags": 0,
            "joined_at": iso_now(),
            "deaf": False,
            "mute": False,
            "nick": None,
            "avatar": None,
            "pending": False,
        }
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "owner_id": str(self.owner_id),
            "unavailable": False,
            "large": False,
            "member_count": len(self.members),
            "premium_tier": 0,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": self.roles_payload(),
            "channels": [c.payload(self.id) for c in self.channels.values() if not c.deleted],
            "threads": [],
            "members": [self.member_payload(u) for u in self.members.values()],
            "voice_states": [],
            "presences": [],
            "mfa_level": 0,
            "verification_level": 0,
            "explicit_content_filter": 0,
            "default_message_notifications": 0,
            "nsfw_level": 0,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "joined_at": iso_now(),
        }
