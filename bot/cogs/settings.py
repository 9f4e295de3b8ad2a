"""``/settings``: a guild's admins view and change its settings (Manage Server).

Discord hides the group from members without Manage Server (``default_permissions``), but a guild
can override that in its integration settings, so studio checks the member's own permission on
every call too. Values are validated by studio; errors name the setting and its range, and every
change is stored with who made it and takes effect on the next command.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.context import context, requester
from studio import (
    ASPECTS,
    QUOTA_UNITS,
    RESETTABLE,
    WHEN_SPENT,
    GuildSettings,
    SettingsDesk,
    bounds,
)
from studio.ranges import describe

ChannelPolicyChoice = Literal["withhold", "blur_spoiler", "allow", "inherit"]
LIST_FIELD = 480  # blocked terms and exemptions in /settings view: 6 fields of 1024 are too many


def _or_default(value: Any, default: str = "instance default") -> str:
    if value is None or value == () or value == []:
        return f"*{default}*"
    return f"`{value}`"


def settings_embed(settings: GuildSettings, models: list[str]) -> discord.Embed:
    embed = discord.Embed(title="Muralist settings for this server")
    embed.add_field(
        name="Defaults",
        value="\n".join(
            [
                f"model: {_or_default(settings.default_model)}",
                f"steps: {_or_default(settings.default_steps)}",
                f"cfg: {_or_default(settings.default_cfg)}",
                f"aspect: {_or_default(settings.default_aspect)}",
                f"negative: {_or_default(settings.default_negative, 'the model default')}",
            ]
        )[:1024],
        inline=False,
    )
    allowed = ", ".join(settings.allowed_models) or f"all ({', '.join(models)})"
    embed.add_field(name="Allowed models", value=allowed[:1024], inline=False)
    embed.add_field(
        name="Limits",
        value=(
            f"per user: {_or_default(settings.per_user_cap)}\n"
            f"per server: {_or_default(settings.per_guild_cap)}\n"
            f"cooldown (s): {_or_default(settings.cooldown_seconds)}"
        ),
        inline=True,
    )
    channels = "".join(
        f"\n<#{channel}>: `{policy}`" for channel, policy in settings.channel_nsfw.items()
    )
    embed.add_field(
        name="NSFW policy", value=f"server: `{settings.nsfw_policy}`{channels}"[:1024], inline=True
    )
    embed.add_field(
        name="Moderation",
        value=(
            f"log channel: {_channel(settings.mod_log_channel)}\n"
            f"approval in: {', '.join(f'<#{c}>' for c in settings.approval_channels) or '*none*'}"
            f"\napprovals go to: {_channel(settings.approval_target or settings.mod_log_channel)}"
            f"\nmoderator role: "
            f"{f'<@&{settings.moderator_role}>' if settings.moderator_role else '*none*'}"
        )[:1024],
        inline=False,
    )
    embed.add_field(name="Quotas and lanes", value=_quotas(settings), inline=False)
    terms = ", ".join(f"`{t.text}`{' (regex)' if t.regex else ''}" for t in settings.terms)
    embed.add_field(name="Blocked terms", value=_listed(terms), inline=False)
    exempt = ", ".join(f"`{e}`" for e in settings.exemptions)
    embed.add_field(name="Exemptions", value=_listed(exempt), inline=False)
    presets = ", ".join(f"`{p.name}`" for p in settings.presets)
    embed.add_field(name="Server presets", value=_listed(presets), inline=False)
    return embed


def _roles(roles: tuple[int, ...]) -> str:
    return ", ".join(f"<@&{role}>" for role in roles) or "*none*"


def _quotas(settings: GuildSettings) -> str:
    unit = "GPU-seconds" if settings.quota_unit == "gpu_seconds" else "images"
    return (
        f"per member: {_or_default(settings.quota_hourly, 'none')} an hour, "
        f"{_or_default(settings.quota_daily, 'none')} a day ({unit}; days start "
        f"{settings.quota_reset_hour:02d}:00 UTC)\n"
        f"when spent: `{settings.quota_when_spent}` · exempt: "
        f"{_roles(settings.quota_exempt_roles)}\nfast lane: {_roles(settings.fast_roles)}"
    )[:1024]


def _listed(items: str) -> str:
    """A list ``/settings terms`` shows at greater length, shortened so that the whole embed
    stays within Discord's 6000 characters when every other field is full too."""
    if len(items) <= LIST_FIELD:
        return items or "*none*"
    return items[:LIST_FIELD] + "… (more: /settings terms)"


def _channel(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id else "*none*"


Steps = app_commands.Range[int, *bounds(GuildSettings, "default_steps")]
Cfg = app_commands.Range[float, *bounds(GuildSettings, "default_cfg")]
Negative = app_commands.Range[str, 1, bounds(GuildSettings, "default_negative")[1]]
PerUser = app_commands.Range[int, *bounds(GuildSettings, "per_user_cap")]
PerGuild = app_commands.Range[int, *bounds(GuildSettings, "per_guild_cap")]
Cooldown = app_commands.Range[float, *bounds(GuildSettings, "cooldown_seconds")]
Hourly = app_commands.Range[int, *bounds(GuildSettings, "quota_hourly")]
Daily = app_commands.Range[int, *bounds(GuildSettings, "quota_daily")]
ResetHour = app_commands.Range[int, *bounds(GuildSettings, "quota_reset_hour")]
RoleList = Literal["fast_roles", "quota_exempt_roles"]


def _range(name: str) -> str:
    return describe(GuildSettings, name, "-")


def desk(interaction: discord.Interaction) -> SettingsDesk:
    return context(interaction).studio.settings


async def _done(interaction: discord.Interaction, what: str, change: Awaitable[Any]) -> None:
    """Make the change (studio checks the member and the values), then ✅ ``what``."""
    await change
    await interaction.response.send_message(f"✅ {what}"[:2000], ephemeral=True)


def _given(given: dict[str, tuple[str, Any]]) -> str:
    return ", ".join(
        f"{label} = {value:g}" if isinstance(value, float) else f"{label} = {value}"
        for label, (_, value) in given.items()
        if value is not None
    )


class SettingsCog(commands.Cog):
    settings = app_commands.Group(
        name="settings",
        description="View and change Muralist's settings for this server",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    async def _set_given(
        self, interaction: discord.Interaction, title: str, given: dict[str, tuple[str, Any]]
    ) -> None:
        """Set the options the admin gave (``label: (setting, value or None)``) together."""
        values = {setting: value for setting, value in given.values()}
        change = desk(interaction).set_many(
            requester(interaction), values, field=title.lower(), labels=list(given)
        )
        await _done(interaction, f"{title} set: {_given(given)}", change)

    async def _model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=m[:100], value=m[:100])
            for m in context(interaction).studio.model_names()
            if current.casefold() in m.casefold()
        ][:25]

    @settings.command(name="view", description="Show every setting of this server")
    async def view(self, interaction: discord.Interaction) -> None:
        current = await desk(interaction).view(requester(interaction))
        models = context(interaction).studio.model_names()
        await interaction.response.send_message(
            embed=settings_embed(current, models), ephemeral=True
        )

    @settings.command(name="defaults", description="Defaults for /imagine's left-out options")
    @app_commands.describe(
        model="Default model",
        steps=f"Default steps ({_range('default_steps')})",
        cfg=f"Default CFG scale ({_range('default_cfg')})",
        aspect="Default aspect ratio",
        negative="Negative prompt used before each member's own",
    )
    @app_commands.choices(aspect=[app_commands.Choice(name=a, value=a) for a in ASPECTS])
    async def defaults(
        self,
        interaction: discord.Interaction,
        model: str | None = None,
        steps: Steps | None = None,
        cfg: Cfg | None = None,
        aspect: str | None = None,
        negative: Negative | None = None,
    ) -> None:
        await self._set_given(
            interaction,
            "Defaults",
            {
                "model": ("default_model", model),
                "steps": ("default_steps", steps),
                "cfg": ("default_cfg", cfg),
                "aspect": ("default_aspect", aspect),
                "negative": ("default_negative", negative),
            },
        )

    @defaults.autocomplete("model")
    async def _defaults_model(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._model_choices(interaction, current)

    @settings.command(name="reset", description="Restore one setting to the instance's default")
    @app_commands.describe(setting="The setting to reset")
    @app_commands.choices(setting=[app_commands.Choice(name=n, value=n) for n in RESETTABLE])
    async def reset(self, interaction: discord.Interaction, setting: str) -> None:
        change = desk(interaction).reset(requester(interaction), setting)
        await _done(interaction, f"`{setting}` restored to the default.", change)

    @settings.command(name="models", description="Models members may use (comma-separated)")
    @app_commands.describe(allowed="Model names separated by commas, or 'all'")
    async def models(self, interaction: discord.Interaction, allowed: str) -> None:
        names = [] if allowed.strip().lower() == "all" else allowed.split(",")
        shown = ", ".join(n.strip() for n in names) or "all models"
        change = desk(interaction).set_allowed_models(requester(interaction), names)
        await _done(interaction, f"Allowed models: {shown}", change)

    @settings.command(name="limits", description="Queued jobs per member and server; cooldown")
    @app_commands.describe(
        per_user=f"Queued jobs one member may have ({_range('per_user_cap')})",
        per_guild=f"Queued jobs for the whole server ({_range('per_guild_cap')})",
        cooldown=f"Seconds a member waits between commands ({_range('cooldown_seconds')})",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        per_user: PerUser | None = None,
        per_guild: PerGuild | None = None,
        cooldown: Cooldown | None = None,
    ) -> None:
        await self._set_given(
            interaction,
            "Limits",
            {
                "per_user": ("per_user_cap", per_user),
                "per_guild": ("per_guild_cap", per_guild),
                "cooldown": ("cooldown_seconds", cooldown),
            },
        )

    @settings.command(name="quotas", description="Images or GPU-seconds per member and hour/day")
    @app_commands.describe(
        unit="What the quotas count",
        hourly=f"Per member and clock hour ({_range('quota_hourly')})",
        daily=f"Per member and day ({_range('quota_daily')})",
        reset_hour=f"The hour (UTC) a new day starts ({_range('quota_reset_hour')})",
        when_spent="Past the quota: refuse, or paint on in the relax lane",
    )
    @app_commands.choices(
        unit=[app_commands.Choice(name=u, value=u) for u in QUOTA_UNITS],
        when_spent=[app_commands.Choice(name=w, value=w) for w in WHEN_SPENT],
    )
    async def quotas(
        self,
        interaction: discord.Interaction,
        unit: str | None = None,
        hourly: Hourly | None = None,
        daily: Daily | None = None,
        reset_hour: ResetHour | None = None,
        when_spent: str | None = None,
    ) -> None:
        await self._set_given(
            interaction,
            "Quotas",
            {
                "unit": ("quota_unit", unit),
                "hourly": ("quota_hourly", hourly),
                "daily": ("quota_daily", daily),
                "reset_hour": ("quota_reset_hour", reset_hour),
                "when_spent": ("quota_when_spent", when_spent),
            },
        )

    @settings.command(name="fast-role", description="A role that paints in the fast lane")
    @app_commands.describe(role="The role (boosters, patrons, ...)", enabled="On or off")
    async def fast_role(
        self, interaction: discord.Interaction, role: discord.Role, enabled: bool = True
    ) -> None:
        await self._role(interaction, "fast_roles", role, enabled, "Fast lane")

    @settings.command(name="quota-exempt", description="A role that no quota limits")
    @app_commands.describe(role="The role", enabled="On or off")
    async def quota_exempt(
        self, interaction: discord.Interaction, role: discord.Role, enabled: bool = True
    ) -> None:
        await self._role(interaction, "quota_exempt_roles", role, enabled, "Exempt from quotas")

    async def _role(
        self,
        interaction: discord.Interaction,
        setting: RoleList,
        role: discord.Role,
        enabled: bool,
        what: str,
    ) -> None:
        change = desk(interaction).set_role(requester(interaction), setting, role.id, enabled)
        state = "on" if enabled else "off"
        await _done(interaction, f"{what} for <@&{role.id}>: {state}", change)

    @settings.command(name="nsfw", description="What happens to images flagged as NSFW")
    @app_commands.describe(
        policy="withhold, blur behind a spoiler, or allow (in age-restricted channels only)",
        channel="Only this channel ('inherit' there follows the server's policy)",
    )
    async def nsfw(
        self,
        interaction: discord.Interaction,
        policy: ChannelPolicyChoice,
        channel: discord.TextChannel | None = None,
    ) -> None:
        where = f"NSFW policy in <#{channel.id}>" if channel else "Server NSFW policy"
        change = desk(interaction).set_policy(
            requester(interaction), policy, channel.id if channel else None
        )
        await _done(interaction, f"{where}: `{policy}`", change)

    @settings.command(name="approval", description="Approval mode: moderators approve first")
    @app_commands.describe(channel="The channel", enabled="On or off")
    async def approval(
        self, interaction: discord.Interaction, channel: discord.TextChannel, enabled: bool
    ) -> None:
        change = desk(interaction).set_approval(requester(interaction), channel.id, enabled)
        state = "on" if enabled else "off"
        await _done(interaction, f"Approval mode in <#{channel.id}>: {state}", change)

    @settings.command(name="approval-target", description="Where results wait for approval")
    @app_commands.describe(channel="A moderators' channel (default: the log channel)")
    async def approval_target(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        change = desk(interaction).set_many(requester(interaction), {"approval_target": channel.id})
        await _done(interaction, f"Results waiting for approval go to <#{channel.id}>", change)

    @settings.command(name="log-channel", description="The moderation log channel")
    @app_commands.describe(channel="Where blocked prompts, flagged images and reports go")
    async def log_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        change = desk(interaction).set_many(requester(interaction), {"mod_log_channel": channel.id})
        await _done(interaction, f"Moderation log: <#{channel.id}>", change)

    @settings.command(name="moderator-role", description="A role that may use /mod")
    @app_commands.describe(role="Members with this role moderate Muralist")
    async def moderator_role(self, interaction: discord.Interaction, role: discord.Role) -> None:
        change = desk(interaction).set_many(requester(interaction), {"moderator_role": role.id})
        await _done(interaction, f"Moderator role: <@&{role.id}>", change)

    @settings.command(name="term-add", description="Block a word, phrase or regex in prompts")
    @app_commands.describe(term="The word, phrase or pattern", regex="Treat it as a regex")
    async def term_add(
        self,
        interaction: discord.Interaction,
        term: app_commands.Range[str, 1, 200],
        regex: bool = False,
    ) -> None:
        change = desk(interaction).add_term(requester(interaction), term, regex=regex)
        await _done(interaction, f"Blocked {'pattern' if regex else 'term'} added.", change)

    @settings.command(name="term-remove", description="Stop blocking a term of this server")
    @app_commands.describe(term="The term or pattern as listed")
    async def term_remove(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 200]
    ) -> None:
        change = desk(interaction).remove_term(requester(interaction), term)
        await _done(interaction, "Blocked term removed.", change)

    @settings.command(name="terms", description="List this server's blocked terms and exemptions")
    async def terms(self, interaction: discord.Interaction) -> None:
        current = await desk(interaction).view(requester(interaction))
        lines = [f"• `{t.text}`{' (regex)' if t.regex else ''}" for t in current.terms]
        exempt = [f"• `{e}`" for e in current.exemptions]
        text = "**Blocked terms**\n" + ("\n".join(lines) or "none")
        text += "\n**Exemptions**\n" + ("\n".join(exempt) or "none")
        await interaction.response.send_message(text[:2000], ephemeral=True)

    @settings.command(name="exempt-add", description="Allow a term of the shipped list here")
    @app_commands.describe(term="The word or phrase (never lifts the absolute rule)")
    async def exempt_add(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 100]
    ) -> None:
        change = desk(interaction).add_exemption(requester(interaction), term)
        await _done(interaction, "Exemption added.", change)

    @settings.command(name="exempt-remove", description="Remove an exemption")
    @app_commands.describe(term="The exempted word or phrase")
    async def exempt_remove(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 100]
    ) -> None:
        change = desk(interaction).remove_exemption(requester(interaction), term)
        await _done(interaction, "Exemption removed.", change)

    @settings.command(name="preset-add", description="Add or replace a style preset of this server")
    @app_commands.describe(
        name="The preset's name (letters, digits, hyphens)",
        positive="The template, with {prompt} once, e.g. 'synthwave art of {prompt}, neon grid'",
        negative="Terms added to the negative prompt, comma-separated",
        description="One line for /styles",
        steps=f"The preset's steps ({_range('default_steps')}); what a member types wins",
        cfg=f"The preset's CFG scale ({_range('default_cfg')})",
        scheduler="The preset's sampler",
        aspect="The preset's aspect ratio",
    )
    @app_commands.choices(aspect=[app_commands.Choice(name=a, value=a) for a in ASPECTS])
    async def preset_add(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 40],
        positive: app_commands.Range[str, 1, 500],
        negative: app_commands.Range[str, 1, 500] | None = None,
        description: app_commands.Range[str, 1, 200] | None = None,
        steps: Steps | None = None,
        cfg: Cfg | None = None,
        scheduler: app_commands.Range[str, 1, 40] | None = None,
        aspect: str | None = None,
    ) -> None:
        values = {
            "name": name,
            "positive": positive,
            "negative": negative,
            "description": description,
            "steps": steps,
            "cfg": cfg,
            "scheduler": scheduler,
            "aspect": aspect,
        }
        change = desk(interaction).add_preset(requester(interaction), values)
        await _done(interaction, f"Preset `{name}` saved: members can use style:{name}", change)

    @preset_add.autocomplete("scheduler")
    async def _preset_scheduler(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        values = await context(interaction).studio.choices("scheduler", requester(interaction))
        wanted = current.casefold()
        return [app_commands.Choice(name=v, value=v) for v in values if wanted in v.casefold()][:25]

    @settings.command(name="preset-remove", description="Remove a style preset of this server")
    @app_commands.describe(name="The preset's name")
    async def preset_remove(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 40]
    ) -> None:
        change = desk(interaction).remove_preset(requester(interaction), name)
        await _done(interaction, f"Preset `{name}` removed.", change)

    @settings.command(name="history", description="The latest changes to these settings")
    async def history(self, interaction: discord.Interaction) -> None:
        changes = await desk(interaction).history(requester(interaction), 15)
        lines = [f"<t:{int(c.at)}:R> <@{c.actor_id}> {c.describe()}" for c in changes]
        text = "\n".join(lines) or "No changes yet."
        await interaction.response.send_message(
            f"**Settings changes**\n{text}"[:2000], ephemeral=True
        )
