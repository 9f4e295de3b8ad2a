"""Following a job from the queue to its result message.

The interaction's original response is edited as the job moves (queued → progress → result). The
interaction token lives 15 minutes; past ``token_lifetime_seconds`` (or when Discord refuses the
token) the result goes to the channel with a mention instead. A deleted channel or a missing
permission is recorded with the job by studio, never raised.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from bot.config import DiscordConfig
from bot.errors import user_message
from bot.render import MAX_CONTENT, OutFile, clip, progress_text, queued_text, render_result
from bot.views import result_view
from studio import Blocked, Failed, Finished, JobRecord, Progress, Queued, Studio, Submitted

log = logging.getLogger(__name__)

_TOKEN_GONE = {50027, 10015}  # invalid webhook token, unknown webhook


@dataclass(frozen=True)
class Target:
    """Where a job's result goes when the interaction token cannot be used."""

    client: discord.Client
    channel_id: int
    user_id: int
    filesize_limit: int

    @classmethod
    def of(cls, interaction: discord.Interaction) -> Target:
        return cls(
            interaction.client,
            interaction.channel_id or 0,
            interaction.user.id,
            interaction.filesize_limit,
        )


class Delivery:
    """Follows one job; ``interaction`` None (a job recovered after a restart): the channel."""

    def __init__(
        self,
        interaction: discord.Interaction | None,
        target: Target,
        studio: Studio,
        config: DiscordConfig,
        submitted: Submitted,
        received: float,
    ) -> None:
        self.interaction = interaction
        self.target = target
        self.studio = studio
        self.config = config
        self.submitted = submitted
        self.received = received
        self._last_edit = float("-inf")
        self._token_ok = interaction is not None

    @property
    def _token_alive(self) -> bool:
        age = time.monotonic() - self.received
        return self._token_ok and age < self.config.token_lifetime_seconds

    async def run(self) -> None:
        job_id = self.submitted.job_id
        try:
            async for event in self.studio.events(job_id):
                if isinstance(event, Queued):
                    text = queued_text(
                        event.position,
                        event.eta_seconds,
                        self.submitted.warnings,
                        lane=self.submitted.lane,
                    )
                    await self._progress(text, None)
                elif isinstance(event, Progress):
                    text = progress_text(event.step, event.total_steps, self.submitted.warnings)
                    preview = OutFile("preview.png", event.preview) if event.preview else None
                    await self._progress(text, preview)
                elif isinstance(event, Finished):
                    await self._result(event.job)
                elif isinstance(event, Failed):
                    await self._final_text(f"❌ Painting failed: {event.message}")
                elif isinstance(event, Blocked):
                    await self._final_text(f"🚫 {event.message}")
        except Exception as exc:  # delivery must never take the bot down
            log.exception("delivering job %s failed", job_id)
            await self._tell_failure(exc)
            await self.studio.undeliverable(job_id, f"{type(exc).__name__}: {exc}")

    async def _tell_failure(self, error: Exception) -> None:
        """Replace the progress message, which would otherwise stay forever (best effort)."""
        if not self._token_alive:
            return
        with contextlib.suppress(discord.HTTPException):
            await self._edit(content=user_message(error), embed=None, attachments=[], view=None)

    async def _progress(self, text: str, preview: OutFile | None) -> None:
        now = time.monotonic()
        if not self._token_alive or now - self._last_edit < self.config.progress_edit_seconds:
            return
        self._last_edit = now
        attachments = [preview.to_discord()] if preview else []
        await self._edit(content=text, attachments=attachments)

    async def _edit(self, **fields: object) -> discord.Message | None:
        """Edit the original response; None when the token can no longer be used."""
        if self.interaction is None:
            return None
        try:
            return await self.interaction.edit_original_response(**fields)  # type: ignore[arg-type]
        except discord.HTTPException as exc:
            if exc.code in _TOKEN_GONE or exc.status == 401:
                self._token_ok = False
                return None
            raise

    async def _final_text(self, text: str) -> None:
        text = clip(text, MAX_CONTENT - 30)  # room for the mention; an engine error can be long
        if not (self._token_alive and await self._edit(content=text, attachments=[])):
            text = f"<@{self.target.user_id}> {text}"
            if await self._to_channel(text, [], None, None) is None:
                return
        await self.studio.delivered(self.submitted.job_id)

    async def _result(self, job: JobRecord) -> None:
        files, embed = render_result(job, self.target.filesize_limit, self.submitted.warnings)
        view = result_view(job)
        message = None
        if self._token_alive:
            message = await self._edit(
                content=None,
                embed=embed,
                attachments=[f.to_discord() for f in files],
                view=view,
            )
        if message is None:
            text = f"<@{self.target.user_id}> your images are ready."
            message = await self._to_channel(text, files, embed, view)
            if message is None:
                return
        await self.studio.delivered(
            job.job_id, channel_id=message.channel.id, message_id=message.id
        )

    async def _to_channel(
        self,
        text: str,
        files: Sequence[OutFile],
        embed: discord.Embed | None,
        view: discord.ui.View | None,
    ) -> discord.Message | None:
        """Post to the channel with a mention; None (recorded on the job) when it cannot."""
        client = self.target.client
        channel_id = self.target.channel_id
        try:
            channel = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
            if isinstance(channel, discord.abc.Messageable):
                return await channel.send(
                    text,
                    embed=embed or discord.utils.MISSING,
                    files=[f.to_discord() for f in files],
                    view=view or discord.utils.MISSING,
                    allowed_mentions=discord.AllowedMentions(  # the requester only
                        everyone=False,
                        roles=False,
                        replied_user=False,
                        users=[discord.Object(self.target.user_id)],
                    ),
                )
            problem = f"channel {channel_id} cannot receive messages"
        except discord.NotFound:
            problem = f"channel {channel_id} no longer exists"
        except discord.Forbidden:
            problem = f"missing permission to post in channel {channel_id}"
        await self.studio.undeliverable(self.submitted.job_id, problem)
        return None
