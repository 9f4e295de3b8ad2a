"""``/region``: a picture, a mask of what to change (white) and a prompt: the masked part is
painted again (vary region with a member's own mask; the result buttons offer fixed regions)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions import start_and_follow
from bot.attachments import check_size, read_attachment, upload_limit
from bot.cogs.imagine import Seed, Short, Steps, Strength, Text, autocomplete
from bot.context import context, requester
from studio import DeliveryTarget, ImagineOptions, Submitted


class RegionCog(commands.Cog):
    @app_commands.command(
        name="region", description="Paint part of a picture again: white in the mask changes"
    )
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to paint in the masked part (or the whole picture's prompt)",
        image="The picture to change (PNG, JPEG, WebP, GIF or BMP)",
        mask="Same shape as the picture: white = paint again, black = keep",
        model="The model to paint with (its inpainting checkpoint when the catalog has one)",
        strength="How far to move away from the picture inside the mask (default 1: anew)",
        steps="Denoising steps: more is slower and finer",
        seed="A seed to repeat a picture (random when left out)",
    )
    @app_commands.autocomplete(model=autocomplete("model"))
    async def region(
        self,
        interaction: discord.Interaction,
        prompt: Text,
        image: discord.Attachment,
        mask: discord.Attachment,
        model: Short | None = None,
        strength: Strength | None = None,
        steps: Steps | None = None,
        seed: Seed | None = None,
    ) -> None:
        options = ImagineOptions.parse(
            prompt=prompt, model=model, strength=strength, steps=steps, seed=seed, count=1
        )
        studio = context(interaction).studio
        who = requester(interaction)
        limit = upload_limit(interaction, studio.input_max_bytes)
        for field, attachment in (("image", image), ("mask", mask)):  # private, before answering
            check_size(attachment, field=field, limit_bytes=limit)

        async def submit(target: DeliveryTarget) -> Submitted:
            picture = await studio.read_picture(
                await read_attachment(image, field="image", limit_bytes=limit), "image"
            )
            painted = await studio.read_picture(
                await read_attachment(mask, field="mask", limit_bytes=limit), "mask"
            )
            return await studio.region(
                options.model_copy(update={"image": picture}), painted, who, target
            )

        await start_and_follow(interaction, submit)
