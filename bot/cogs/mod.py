"""``/mod``: bans from generating, the ban list and the latest moderation record entries.

For members with Manage Messages (Discord's default for the group) or the guild's moderator role
(``/settings moderator-role``); the bot checks that itself on every call.
"""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bot.context import context, requester
from bot.errors import Denied
from bot.modlog import ban_text, jump_url
from bot.render import discord_time
from studio.errors import Refused

_KIND_ICONS = {
    "blocked_prompt": "🚫",
    "absolute_rule": "⛔",
    "flagged_image": "🔞",
    "unchecked_image": "❓",
    "blocked_input": "🖼️",
    "report": "⚠️",
    "hidden": "🙈",
    "approve": "✅",
    "remove": "🗑️",
    "dismiss": "👌",
    "ban": "🔨",
    "unban": "🕊️",
    "setting": "⚙️",
}


class ModCog(commands.Cog):
    mod = app_commands.Group(
        name="mod",
        description="Moderate Muralist in this server",
        default_permissions=discord.Permissions(manage_messages=True),
        guild_only=True,
    )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        moderation = context(interaction).studio.moderation
        try:
            await asyncio.to_thread(
                moderation.require_moderator, requester(interaction), "use /mod"
            )
        except Refused as refused:
            raise Denied(refused) from None
        return True

    @mod.command(name="ban", description="Ban a member from generating images here")
    @app_commands.describe(
        user="The member",
        duration="How long: 30m, 12h, 7d, 2w (empty: until unbanned)",
        reason="Why (the member sees this)",
    )
    async def ban(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        duration: app_commands.Range[str, 1, 10] | None = None,
        reason: app_commands.Range[str, 1, 500] = "banned by a moderator",
    ) -> None:
        moderation = context(interaction).studio.moderation
        ban = await moderation.ban(requester(interaction), user.id, duration, reason)
        await interaction.response.send_message(
            f"🔨 {ban_text(ban)}", ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @mod.command(name="unban", description="Lift a member's ban")
    @app_commands.describe(user="The member")
    async def unban(self, interaction: discord.Interaction, user: discord.User) -> None:
        moderation = context(interaction).studio.moderation
        lifted = await moderation.unban(requester(interaction), user.id)
        text = (
            f"🕊️ {user.mention} may generate again." if lifted else f"{user.mention} was not banned."
        )
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @mod.command(name="bans", description="Members banned from generating here")
    async def bans(self, interaction: discord.Interaction) -> None:
        bans = await context(interaction).studio.moderation.bans(requester(interaction))
        lines = [
            f"• <@{ban.user_id}> — "
            + (f"until {discord_time(ban.expires_at)}" if ban.expires_at else "no end")
            + f" — {ban.reason[:200]}"
            for ban in bans
        ]
        text = "**Banned from generating**\n" + ("\n".join(lines) or "nobody")
        await interaction.response.send_message(
            text[:2000], ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @mod.command(name="recent", description="The latest moderation record entries")
    @app_commands.describe(count="How many (1-25)")
    async def recent(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        guild_id = interaction.guild_id or 0
        entries = await context(interaction).studio.moderation.recent(requester(interaction), count)
        lines = []
        for entry, place in entries:
            parts = [
                f"`#{entry.id}` {discord_time(entry.at, 'R')}",
                f"{_KIND_ICONS.get(entry.kind, '•')} **{entry.kind}**",
            ]
            if entry.user_id:
                parts.append(f"<@{entry.user_id}>")
            if entry.actor_id:
                parts.append(f"by <@{entry.actor_id}>")
            if entry.job_id:
                job = f"job `{entry.job_id[:8]}`"
                parts.append(f"[{job}]({jump_url(guild_id, *place)})" if place else job)
            if entry.reason:
                parts.append(f"— {entry.reason[:120]}")
            lines.append(" ".join(parts))
        text = "**Moderation record**\n" + ("\n".join(lines) or "nothing recorded yet")
        embed_text = text[:4000]
        await interaction.response.send_message(
            embed=discord.Embed(description=embed_text),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
