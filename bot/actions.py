"""What a command or a click does: answer Discord at once, call studio, follow the job.

Every path defers (or answers) before any other await, so the 3-second rule holds however busy
the engine is; the job is then followed in a background task (``bot.delivery``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import discord

from bot.context import context, delivery_target, requester
from bot.delivery import Delivery, Target
from bot.errors import STALE, report_error
from bot.replies import OriginalReply
from bot.routing import send_form
from studio import DERIVATIONS, DeliveryTarget, Submitted
from studio.canvas import REGIONS
from studio.errors import InvalidRequest

log = logging.getLogger(__name__)


async def start_and_follow(
    interaction: discord.Interaction,
    submit: Callable[[DeliveryTarget], Awaitable[Submitted]],
) -> None:
    """Defer at once (a public "thinking…"), submit, then follow the job in the background."""
    received = time.monotonic()
    bot = context(interaction)
    with bot.acknowledging():
        response = await interaction.response.defer(thinking=True)
    await bot.acks_first()
    # The reply's id too: once the token is gone, the channel can still reach the reply.
    target = delivery_target(interaction, received, response.message_id if response else None)
    submitted = await submit(target)
    reply = OriginalReply(
        interaction.client,
        interaction.channel_id or 0,
        target,
        usable_for=bot.config.token_lifetime_seconds,
        interaction=interaction,
    )
    delivery = Delivery(reply, Target.of(interaction), bot.studio, bot.config, submitted)
    bot.track(asyncio.create_task(delivery.run(), name=f"deliver-{submitted.job_id}"))


async def delete_message(client: discord.Client, place: tuple[int, int] | None) -> bool:
    """Delete a posted result by ``(channel id, message id)``; False when it cannot be (gone
    already, or no permission), which is logged, not raised."""
    if place is None:
        return False
    channel_id, message_id = place
    try:
        await client.get_partial_messageable(channel_id).get_partial_message(message_id).delete()
    except discord.NotFound:
        return False
    except discord.HTTPException as exc:
        log.warning("could not delete result message %s: %s", message_id, exc)
        return False
    return True


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
    studio = context(interaction).studio
    who = requester(interaction)
    derivation = next((d for d in DERIVATIONS if d == action), None)
    if derivation is not None:
        await start_and_follow(
            interaction, lambda target: studio.derive(job_id, derivation, index, who, target)
        )
    elif action == "remix":
        job = await studio.job(job_id)
        await send_form(interaction, RemixModal(job_id, studio.remix_prompt(job)))
    elif action == "vary_region":
        view = discord.ui.View(timeout=None)
        view.add_item(RegionSelect(job_id, index or 0))
        await interaction.response.send_message(
            "🖌️ Which part should change? Then edit the prompt for it.", view=view, ephemeral=True
        )
    elif action == "delete":
        deleted = await studio.delete(job_id, who)
        message = interaction.message
        if message is not None and message.flags.ephemeral:  # clicked in /history
            await interaction.response.edit_message(
                content="🗑️ Deleted.", embed=None, attachments=[], view=None
            )
            await delete_message(interaction.client, deleted.place)
            return
        await interaction.response.send_message("🗑️ Deleted.", ephemeral=True)
        if message is not None:
            await message.delete()
        if deleted.place is not None and (message is None or message.id != deleted.place[1]):
            await delete_message(interaction.client, deleted.place)
    elif action == "report":
        await interaction.response.defer(ephemeral=True, thinking=True)
        reported = await studio.report(job_id, who, "reported with the ⚠️ button")
        text = (
            "⚠️ Thank you: the moderators will take a look."
            if reported.accepted
            else "You have already reported this image."
        )
        if reported.hidden and interaction.message is not None:
            await interaction.message.delete()
            text = "⚠️ Thank you: enough members reported it, so it was taken down."
        await interaction.followup.send(text, ephemeral=True)
    else:  # a button of another version of the bot
        await interaction.response.send_message(STALE, ephemeral=True)


class RemixModal(discord.ui.Modal, title="Remix"):
    """The job's prompt, prefilled, to edit and run again with the same settings. Answered by
    ``bot.routing`` from its custom_id, so it works after a restart too."""

    route: ClassVar[re.Pattern[str]] = re.compile(r"muralist:remix_modal:(?P<job>[0-9a-f]{32})")

    def __init__(self, job_id: str, prompt: str) -> None:
        super().__init__(custom_id=f"muralist:remix_modal:{job_id}", timeout=None)
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            default=prompt[:4000],
            max_length=4000,
            custom_id="prompt",
        )
        self.add_item(discord.ui.Label(text="Prompt", component=self.prompt))

    @classmethod
    async def submitted(
        cls, interaction: discord.Interaction, match: re.Match[str], values: dict[str, str]
    ) -> None:
        studio = context(interaction).studio
        who = requester(interaction)
        job_id, text = match["job"], values.get("prompt", "")
        await start_and_follow(interaction, lambda target: studio.remix(job_id, text, who, target))


class RegionSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"muralist:region_pick:(?P<job>[0-9a-f]{32}):(?P<index>[0-3])",
):
    """Vary region's menu of regions (halves, thirds, center) for image ``index`` of a job;
    picking one opens ``RegionModal``. A ``DynamicItem``: it works after a restart too."""

    def __init__(self, job_id: str, index: int) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"muralist:region_pick:{job_id}:{index}",
                placeholder="Choose the region to paint again",
                options=[
                    discord.SelectOption(label=label, value=value)
                    for value, label in REGIONS.items()
                ],
            )
        )
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RegionSelect:
        return cls(match["job"], int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            region = self.item.values[0] if self.item.values else ""
            if region not in REGIONS:
                raise InvalidRequest("region", f"use one of {', '.join(REGIONS)}")
            studio = context(interaction).studio
            job = await studio.job(self.job_id)
            modal = RegionModal(self.job_id, self.index, region, studio.remix_prompt(job))
            await send_form(interaction, modal)
        except Exception as exc:
            await report_error(interaction, exc)


class RegionModal(discord.ui.Modal, title="Vary region"):
    """The prompt for the chosen region, prefilled with the image's own; answered by
    ``bot.routing`` from its custom_id, so it works after a restart too."""

    route: ClassVar[re.Pattern[str]] = re.compile(
        r"muralist:region_modal:(?P<job>[0-9a-f]{32}):(?P<index>[0-3]):(?P<region>[a-z_]{1,20})"
    )

    def __init__(self, job_id: str, index: int, region: str, prompt: str) -> None:
        super().__init__(custom_id=f"muralist:region_modal:{job_id}:{index}:{region}", timeout=None)
        self.prompt: discord.ui.TextInput[RegionModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            default=prompt[:4000],
            max_length=4000,
            custom_id="prompt",
        )
        self.add_item(
            discord.ui.Label(
                text=f"Prompt for the {REGIONS[region].split(' (')[0].lower()}",
                component=self.prompt,
            )
        )

    @classmethod
    async def submitted(
        cls, interaction: discord.Interaction, match: re.Match[str], values: dict[str, str]
    ) -> None:
        studio = context(interaction).studio
        who = requester(interaction)
        job_id, index, region = match["job"], int(match["index"]), match["region"]
        text = values.get("prompt", "")
        await start_and_follow(
            interaction,
            lambda target: studio.vary_region(job_id, index, region, text, who, target),
        )
