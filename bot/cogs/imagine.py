"""``/imagine``: options in, a queued job out; the rest happens in ``bot.actions``."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions import start_and_follow
from bot.attachments import check_size, read_attachment, upload_limit
from bot.boundary import typed
from bot.context import context, requester
from studio import ChoiceField, DeliveryTarget, ImagineOptions, Submitted, bounds

Text = app_commands.Range[str, *bounds(ImagineOptions, "prompt")]
Short = app_commands.Range[str, *bounds(ImagineOptions, "style")]
Count = app_commands.Range[int, *bounds(ImagineOptions, "count")]
Steps = app_commands.Range[int, *bounds(ImagineOptions, "steps")]
Cfg = app_commands.Range[float, *bounds(ImagineOptions, "cfg")]
Guidance = app_commands.Range[float, *bounds(ImagineOptions, "guidance")]
Seed = app_commands.Range[int, *bounds(ImagineOptions, "seed")]
Strength = app_commands.Range[float, *bounds(ImagineOptions, "strength")]


def autocomplete(field: ChoiceField) -> Any:
    """Autocomplete for ``field`` from studio's allowed values (models: the guild's)."""

    async def complete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        values = await context(interaction).studio.choices(field, requester(interaction))
        wanted = typed(current).casefold()
        matches = [v for v in values if wanted in v.casefold()][:25]
        return [app_commands.Choice(name=v[:100], value=v[:100]) for v in matches]

    return complete


class ImagineCog(commands.Cog):
    @app_commands.command(name="imagine", description="Paint pictures from a text prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to paint: subject, details, style (weights like (word:1.2) work)",
        negative="What to keep out of the picture",
        style="A style preset",
        medium="The medium, e.g. oil painting, watercolor, photograph",
        lighting="The light, e.g. golden hour, studio lighting, neon",
        composition="The framing, e.g. close-up, wide shot, from above",
        details="More details, e.g. freckles, rain on the window",
        aspect="Shape of the picture, width:height",
        count="How many pictures",
        steps="Denoising steps: more is slower and finer",
        cfg="How closely to follow the prompt (CFG scale)",
        seed="A seed to repeat a picture (random when left out)",
        scheduler="The sampler",
        model="The model to paint with",
        guidance="FLUX.1-dev's guidance (FLUX has no CFG scale)",
        lora="A LoRA style, as name or name:weight (also <lora:name:0.8> in the prompt)",
        draft="A fast few-step draft; its U buttons repaint with the full model",
        image="A picture to start from (PNG, JPEG, WebP, GIF or BMP)",
        strength="How far to move away from the picture: 0.05 keeps it, 1 repaints it",
        tile="A seamless tile: the edges continue each other (shown repeated 2×2)",
        sref="A style reference: paint in this picture's style (weight: /preferences)",
        cref="A character reference: keep this picture's character (weight: /preferences)",
        control="A sketch or photo whose edges or lines the picture follows (ControlNet)",
        control_mode="canny (edges) or lineart (drawn lines), optionally :scale, e.g. canny:0.7",
    )
    @app_commands.autocomplete(
        style=autocomplete("style"),
        aspect=autocomplete("aspect"),
        scheduler=autocomplete("scheduler"),
        model=autocomplete("model"),
        lora=autocomplete("lora"),
        control_mode=autocomplete("control_mode"),
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: Text,
        negative: Text | None = None,
        style: Short | None = None,
        medium: Short | None = None,
        lighting: Short | None = None,
        composition: Short | None = None,
        details: Short | None = None,
        aspect: Short | None = None,
        count: Count | None = None,
        steps: Steps | None = None,
        cfg: Cfg | None = None,
        seed: Seed | None = None,
        scheduler: Short | None = None,
        model: Short | None = None,
        guidance: Guidance | None = None,
        lora: Short | None = None,
        draft: bool | None = None,
        image: discord.Attachment | None = None,
        strength: Strength | None = None,
        tile: bool | None = None,
        sref: discord.Attachment | None = None,
        cref: discord.Attachment | None = None,
        control: discord.Attachment | None = None,
        control_mode: Short | None = None,
    ) -> None:
        options = ImagineOptions.parse(
            prompt=prompt,
            negative=negative,
            style=style,
            medium=medium,
            lighting=lighting,
            composition=composition,
            details=details,
            aspect=aspect,
            count=count,
            steps=steps,
            cfg=cfg,
            seed=seed,
            scheduler=scheduler,
            model=model,
            guidance=guidance,
            lora=lora,
            draft=draft,
            strength=strength,
            tile=bool(tile),
            control_mode=control_mode,
        )
        studio = context(interaction).studio
        who = requester(interaction)
        limit = upload_limit(interaction, studio.input_max_bytes)
        attached = {
            name: file
            for name, file in (
                ("image", image),
                ("sref", sref),
                ("cref", cref),
                ("control", control),
            )
            if file is not None
        }
        for name, file in attached.items():  # before answering: too big is refused privately
            check_size(file, field=name, limit_bytes=limit)

        async def submit(target: DeliveryTarget) -> Submitted:
            pictures = {}
            for name, file in attached.items():  # downloaded and decoded after the defer
                data = await read_attachment(file, field=name, limit_bytes=limit)
                pictures[name] = await studio.read_picture(data, name)
            return await studio.submit(options.model_copy(update=pictures), who, target)

        await start_and_follow(interaction, submit)
