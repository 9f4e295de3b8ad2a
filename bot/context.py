"""What every interaction handler needs from the client, and the member as studio sees them.

The client (``bot.client.MuralistBot``) implements ``BotContext``; handlers reach it through the
interaction, never through module globals or attribute lookups.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol, cast

import discord

from bot.config import DiscordConfig
from studio import DeliveryTarget, Requester, Studio

TOKEN_LIFETIME = 15 * 60  # an interaction token's life, from Discord's documentation


class BotContext(Protocol):
    studio: Studio
    config: DiscordConfig

    def track(self, task: asyncio.Task[Any]) -> None: ...

    def acknowledging(self) -> contextlib.AbstractContextManager[None]: ...

    async def acks_first(self) -> None: ...


def context(interaction: discord.Interaction) -> BotContext:
    return cast(BotContext, interaction.client)


def requester(interaction: discord.Interaction) -> Requester:
    """Who acts, where, with the roles and permissions studio decides moderators from."""
    channel = interaction.channel
    member = interaction.user
    roles = tuple(r.id for r in member.roles) if isinstance(member, discord.Member) else ()
    return Requester(
        user_id=member.id,
        guild_id=interaction.guild_id or 0,
        channel_id=interaction.channel_id or 0,
        channel_nsfw=isinstance(channel, discord.TextChannel) and channel.is_nsfw(),
        role_ids=roles,
        manage_messages=interaction.permissions.manage_messages,
        manage_guild=interaction.permissions.manage_guild,
    )


def delivery_target(
    interaction: discord.Interaction, received: float, message_id: int | None = None
) -> DeliveryTarget:
    """The interaction's token for studio to keep with the job, so the original message can be
    finished even after a restart while the token lives (``received``: monotonic time), and the
    reply's message id (``message_id``) to reach it through the channel after that."""
    age = time.monotonic() - received
    return DeliveryTarget(
        reply_token=interaction.token,
        application_id=interaction.application_id,
        expires_at=time.time() - age + TOKEN_LIFETIME,
        message_id=message_id,
    )
