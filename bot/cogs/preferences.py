"""``/preferences``: a member's own defaults for ``/imagine`` in this server (show, set, reset).

Studio stores and checks them (the model must be one the server allows, the style must exist,
the ranges are ``/imagine``'s) and the planner applies them under what the member types.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.imagine import Count, Short, Steps, Text, autocomplete
from bot.context import context, requester
from studio import ASPECTS, PREFERENCE_FIELDS, Preferences, bounds

Weight = app_commands.Range[float, *bounds(Preferences, "sref_weight")]

ALL = "all"


def preferences_embed(preferences: Preferences) -> discord.Embed:
    given = preferences.given()
    lines = [
        f"{name}: `{given[name]}`" if name in given else f"{name}: *the server's default*"
        for name in PREFERENCE_FIELDS
    ]
    embed = discord.Embed(title="Your defaults for /imagine here", description="\n".join(lines))
    embed.set_footer(text="What you type in /imagine wins; /preferences reset clears them.")
    return embed


class PreferencesCog(commands.Cog):
    preferences = app_commands.Group(
        name="preferences", description="Your own defaults for /imagine here", guild_only=True
    )

    @preferences.command(name="show", description="Show your defaults")
    async def show(self, interaction: discord.Interaction) -> None:
        mine = await context(interaction).studio.preferences.view(requester(interaction))
        await interaction.response.send_message(embed=preferences_embed(mine), ephemeral=True)

    @preferences.command(name="set", description="Set your defaults (the options you give)")
    @app_commands.describe(
        model="Your model",
        style="Your style preset",
        aspect="Your shape of picture",
        count="Pictures per /imagine",
        steps="Denoising steps",
        negative="What to keep out of your pictures",
        draft="Paint fast few-step drafts (their U buttons repaint with the full model)",
        sref_weight="How strongly a style reference (sref) sets the style, 0..2",
        cref_weight="How strongly a character reference (cref) carries the character, 0..2",
    )
    @app_commands.autocomplete(model=autocomplete("model"), style=autocomplete("style"))
    @app_commands.choices(aspect=[app_commands.Choice(name=a, value=a) for a in ASPECTS])
    async def set(
        self,
        interaction: discord.Interaction,
        model: Short | None = None,
        style: Short | None = None,
        aspect: str | None = None,
        count: Count | None = None,
        steps: Steps | None = None,
        negative: Text | None = None,
        draft: bool | None = None,
        sref_weight: Weight | None = None,
        cref_weight: Weight | None = None,
    ) -> None:
        values = {
            "model": model,
            "style": style,
            "aspect": aspect,
            "count": count,
            "steps": steps,
            "negative": negative,
            "draft": draft,
            "sref_weight": sref_weight,
            "cref_weight": cref_weight,
        }
        mine = await context(interaction).studio.preferences.set(requester(interaction), values)
        await interaction.response.send_message(
            "✅ Saved.", embed=preferences_embed(mine), ephemeral=True
        )

    @preferences.command(name="reset", description="Clear one of your defaults, or all")
    @app_commands.describe(preference="The one to clear (default: all)")
    @app_commands.choices(
        preference=[app_commands.Choice(name=n, value=n) for n in (ALL, *PREFERENCE_FIELDS)]
    )
    async def reset(self, interaction: discord.Interaction, preference: str = ALL) -> None:
        name = None if preference == ALL else preference
        mine = await context(interaction).studio.preferences.reset(requester(interaction), name)
        await interaction.response.send_message(
            "✅ Cleared.", embed=preferences_embed(mine), ephemeral=True
        )
