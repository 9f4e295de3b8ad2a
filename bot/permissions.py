"""Who counts as a moderator, and the checks the admin and moderator command groups share.

A moderator has Manage Messages in the channel, or the guild's moderator role
(``/settings moderator-role``). Discord's ``default_permissions`` only hide a group, and a guild
may override them in its integration settings, so the bot checks on every call itself.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.guild_settings import GuildSettingsStore
from bot.moderation import Refused


class ModeratorsOnly(Refused, app_commands.CheckFailure):
    """A moderators' command or button used by a member who is not a moderator."""


def is_moderator(interaction: discord.Interaction, guilds: GuildSettingsStore | None) -> bool:
    """Manage Messages here, or the guild's moderator role (``guilds``: None without part 2).

    Reads the guild's settings only when Manage Messages does not settle it; the row is tiny,
    so this is cheap enough to call on the event loop before answering Discord.
    """
    if interaction.permissions.manage_messages:
        return True
    member = interaction.user
    if guilds is None or interaction.guild_id is None or not isinstance(member, discord.Member):
        return False
    role = guilds.get(interaction.guild_id).moderator_role
    return role is not None and any(r.id == role for r in member.roles)


def require_manage_guild(interaction: discord.Interaction) -> None:
    """``/settings`` is for members who may manage the server, in a server."""
    if interaction.guild_id is None or not interaction.permissions.manage_guild:
        raise app_commands.MissingPermissions(["manage_guild"])


def require_moderator(
    interaction: discord.Interaction, guilds: GuildSettingsStore, action: str
) -> None:
    """Refuse (``ModeratorsOnly``, naming ``action``) a member who is not a moderator."""
    if not is_moderator(interaction, guilds):
        raise ModeratorsOnly(
            f"Only moderators can {action}: Manage Messages, or the moderator role "
            "set with /settings moderator-role."
        )
