"""What a command or a click does: answer Discord at once, call the service, follow the job.

Every path defers (or answers) before any other await, so the 3-second rule holds however busy
the engine is; the job is then followed in a background task (``bot.delivery``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.config import DiscordConfig
from bot.delivery import Delivery, Target
from bot.errors import report_error
from bot.permissions import is_moderator
from generation.studio_types import Derivation, ImagineService, Requester, Submitted

if TYPE_CHECKING:
    from bot.community import Community

DERIVATIONS: tuple[Derivation, ...] = ("reroll", "vary_subtle", "vary_strong", "upscale")


class BotContext(Protocol):
    service: ImagineService
    config: DiscordConfig

    def track(self, task: asyncio.Task[Any]) -> None: ...

    def acknowledging(self) -> contextlib.AbstractContextManager[None]: ...

    async def acks_first(self) -> None: ...


def context(interaction: discord.Interaction) -> BotContext:
    return interaction.client  # type: ignore[return-value]


def requester(interaction: discord.Interaction) -> Requester:
    """Who acts, where; moderators (Manage Messages or the guild's moderator role) may delete
    and cancel others' jobs and get the moderators' queue priority."""
    channel = interaction.channel
    nsfw = isinstance(channel, discord.TextChannel) and channel.is_nsfw()
    community: Community | None = getattr(interaction.client, "community", None)
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id or 0,
        channel_id=interaction.channel_id or 0,
        channel_nsfw=nsfw,
        is_moderator=is_moderator(interaction, community.guilds if community else None),
    )


async def start_and_follow(
    interaction: discord.Interaction, submit: Callable[[], Awaitable[Submitted]]
) -> None:
    """Defer at once (a public "thinking…"), submit, then follow the job in the background."""
    received = time.monotonic()
    bot = context(interaction)
    with bot.acknowledging():
        await interaction.response.defer(thinking=True)
    await bot.acks_first()
    submitted = await submit()
    target = Target.of(interaction)
    delivery = Delivery(interaction, target, bot.service, bot.config, submitted, received)
    bot.track(asyncio.create_task(delivery.run(), name=f"deliver-{submitted.job_id}"))


async def on_button(
    interaction: discord.Interaction, action: str, job_id: str, index: int | None
) -> None:
    try:
        await _on_button(interaction, action, job_id, index)
    except Exception as exc:
        await report_error(interaction, exc)


async def _on_button(
    interaction: discord.Interaction, action: str, job_id: str, index: int | None
) -> None:
    service = context(interaction).service
    who = requester(interaction)
    if action in DERIVATIONS:
        derivation: Derivation = action  # type: ignore[assignment]
        await start_and_follow(interaction, lambda: service.derive(job_id, derivation, index, who))
    elif action == "remix":
        job = await service.job(job_id)
        await interaction.response.send_modal(RemixModal(job_id, service.prompt_of(job)))
    elif action == "delete":
        await service.delete(job_id, who)
        await interaction.response.send_message("🗑️ Deleted.", ephemeral=True)
        if interaction.message is not None:
            await interaction.message.delete()
    elif action == "report":
        await interaction.response.defer(ephemeral=True, thinking=True)
        reported = await service.report(job_id, who, "reported with the ⚠️ button")
        text = (
            "⚠️ Thank you: the moderators will take a look."
            if reported.accepted
            else "You have already reported this image."
        )
        if reported.hidden and interaction.message is not None:
            await interaction.message.delete()
            text = "⚠️ Thank you: enough members reported it, so it was taken down."
        await interaction.followup.send(text, ephemeral=True)


class RemixModal(discord.ui.Modal, title="Remix"):
    """The job's prompt, prefilled, to edit and run again with the same settings."""

    def __init__(self, job_id: str, prompt: str) -> None:
        super().__init__(custom_id=f"muralist:remix_modal:{job_id}", timeout=None)
        self.job_id = job_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            default=prompt[:4000],
            max_length=4000,
            custom_id="prompt",
        )
        self.add_item(discord.ui.Label(text="Prompt", component=self.prompt))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        service = context(interaction).service
        who = requester(interaction)
        text = self.prompt.value
        await start_and_follow(interaction, lambda: service.remix(self.job_id, text, who))

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error)
