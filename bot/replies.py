"""A job's original reply ("thinking…" → queued → progress → result), however it can be reached.

Three ways, best first: the live interaction (this run received it); a webhook built from the
token studio kept with the job (after a restart, while the token lives: Discord lets the token
alone edit ``@original``); the channel, by the reply's message id, once the token is gone (the
reply is the bot's own message). ``edit`` tries them in that order and says which worked.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import discord

from bot.context import TOKEN_LIFETIME
from studio import DeliveryTarget

log = logging.getLogger(__name__)

_TOKEN_GONE = {50027, 10015}  # invalid webhook token, unknown webhook
_MESSAGE_GONE = {10008}  # unknown message (deleted by someone)


class OriginalReply:
    """Edits one job's original reply through whichever way still works.

    ``usable_for``: how many seconds of the token's life the bot uses (``token_lifetime_seconds``,
    a margin under Discord's 15 minutes).
    """

    def __init__(
        self,
        client: discord.Client,
        channel_id: int,
        target: DeliveryTarget,
        *,
        usable_for: float,
        interaction: discord.Interaction | None = None,
    ) -> None:
        self.client = client
        self.channel_id = channel_id
        self.target = target
        self.interaction = interaction
        self.message_id = target.message_id
        self._token_refused = target.reply_token is None or target.application_id is None
        expires = target.expires_at if target.expires_at is not None else time.time()
        self._token_until = expires - TOKEN_LIFETIME + usable_for
        self.gone = False
        """The reply was deleted (by its author or a moderator): nothing to edit any more."""

    @property
    def token_alive(self) -> bool:
        return not self._token_refused and time.time() < self._token_until

    @property
    def reachable(self) -> bool:
        """Whether any way is left (the token, or the channel with a known message id)."""
        return not self.gone and (self.token_alive or self.message_id is not None)

    async def edit(self, *, through_channel: bool = True, **fields: Any) -> discord.Message | None:
        """Edit the reply; None when no way works (``through_channel`` False: the token only,
        as for progress, which is not worth the channel's rate limit)."""
        if self.gone:
            return None
        if self.token_alive:
            message = await self._by_token(fields)
            if message is not None or self.gone:
                return message
        if through_channel and self.message_id is not None:
            return await self._by_channel(fields)
        return None

    async def fetch(self) -> discord.Message | None:
        """The reply as it is now (to see whether it already shows a result)."""
        message: discord.Message | None = None
        try:
            if self.token_alive:
                original: Any = "@original"  # the reply without its id (typed as an int)
                message = await self._webhook().fetch_message(original)
            elif self.message_id is not None:
                channel = self.client.get_partial_messageable(self.channel_id)
                message = await channel.fetch_message(self.message_id)
        except discord.HTTPException as exc:
            log.info("could not read the reply in channel %s: %s", self.channel_id, exc)
        if message is not None:
            self.message_id = message.id
        return message

    def _webhook(self) -> discord.Webhook:
        assert self.target.application_id is not None and self.target.reply_token is not None
        return discord.Webhook.partial(
            self.target.application_id, self.target.reply_token, client=self.client
        )

    async def _by_token(self, fields: dict[str, Any]) -> discord.Message | None:
        try:
            if self.interaction is not None:
                message: discord.Message = await self.interaction.edit_original_response(**fields)
            else:
                # Discord's "@original" names the reply without its id (typed as an int here).
                original: Any = "@original"
                message = await self._webhook().edit_message(original, **fields)
        except discord.HTTPException as exc:
            if exc.code in _TOKEN_GONE or exc.status == 401:
                self._token_refused = True
                return None
            if exc.code in _MESSAGE_GONE:
                self.gone = True
                return None
            raise
        self.message_id = message.id
        return message

    async def _by_channel(self, fields: dict[str, Any]) -> discord.Message | None:
        assert self.message_id is not None
        partial = self.client.get_partial_messageable(self.channel_id)
        try:
            return await partial.get_partial_message(self.message_id).edit(**fields)
        except discord.NotFound:
            self.gone = True
        except discord.Forbidden as exc:
            log.warning(
                "cannot edit reply %s in channel %s: %s", self.message_id, self.channel_id, exc
            )
        return None
