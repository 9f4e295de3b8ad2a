"""Following a job from the queue to its result message: once, and nothing left half-done.

The job's original reply is edited as the job moves (queued → progress → result), through the
interaction's token while it lives (also after a restart: studio keeps the token with the job).
Once the token is gone the result is posted to the channel with a mention, and the reply is
edited through the channel to point to it, so no message stays at "Painting…".

Exactly once across crashes: how the result is delivered is recorded before it is posted
(``Studio.delivering``); a channel post carries a nonce made from the job id, which Discord
enforces (a repeated nonce returns the first message); and a job that had ended before a
restart is first looked for, in its reply and among its channel's recent messages, before
anything is posted. A storage error after a post leaves the post as it is: the bookkeeping is
retried until it holds. A deleted channel or a missing permission is recorded with the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from bot.config import DiscordConfig
from bot.errors import user_message
from bot.render import MAX_CONTENT, OutFile, clip, progress_text, queued_text, render_result
from bot.replies import OriginalReply
from bot.views import result_view
from studio import Blocked, Failed, Finished, JobRecord, Progress, Queued, Studio, Submitted
from studio.deliveries import Intent
from studio.errors import JobNotFound

log = logging.getLogger(__name__)

HISTORY_LOOKUP = 50
"""Recent channel messages searched for a result posted before a crash."""
BOOKKEEPING_RETRY_MAX = 30.0
"""Longest pause between tries of the delivery bookkeeping while storage fails."""


def nonce(job_id: str, purpose: str = "") -> str:
    """The channel post's nonce (Discord allows 25 characters): the same for every try.
    ``purpose`` keeps another post of the same job (a moderator's approval) apart."""
    return (purpose + job_id)[:25]


def job_tag(job_id: str) -> str:
    """How a text posted to a channel names its job (the ids ``/queue`` and ``/cancel`` show)."""
    return f"(job `{job_id[:8]}`)"


def shows_job(message: discord.Message, job_id: str) -> bool:
    """Whether one of the bot's messages is this job's delivery (its buttons, its embed's
    footer, or the tag of a channel text)."""
    for row in message.components:
        for child in getattr(row, "children", []):
            if job_id in (getattr(child, "custom_id", None) or ""):
                return True
    if any(job_id in (embed.footer.text or "") for embed in message.embeds):
        return True
    return job_tag(job_id) in message.content


@dataclass(frozen=True)
class Target:
    """Where a job's result goes when its reply cannot show it."""

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
    """Follows one job. ``ended_before``: the job ended before a restart, so its result may
    already be posted: look before posting."""

    def __init__(
        self,
        reply: OriginalReply,
        target: Target,
        studio: Studio,
        config: DiscordConfig,
        submitted: Submitted,
        *,
        ended_before: bool = False,
    ) -> None:
        self.reply = reply
        self.target = target
        self.studio = studio
        self.config = config
        self.submitted = submitted
        self.ended_before = ended_before
        self._last_edit = float("-inf")
        self._posted = False

    @property
    def job_id(self) -> str:
        return self.submitted.job_id

    async def run(self) -> None:
        try:
            async for event in self.studio.events(self.job_id):
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
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # delivery must never take the bot down
            log.exception("delivering job %s failed", self.job_id)
            if not self._posted:  # a posted result stays as it is
                await self._tell_failure(exc)
            with contextlib.suppress(Exception):
                await self.studio.undeliverable(self.job_id, f"{type(exc).__name__}: {exc}")

    async def _tell_failure(self, error: Exception) -> None:
        """Replace the progress message, which would otherwise stay forever (best effort)."""
        with contextlib.suppress(discord.HTTPException):
            await self.reply.edit(
                content=user_message(error), embed=None, attachments=[], view=None
            )

    async def _progress(self, text: str, preview: OutFile | None) -> None:
        now = time.monotonic()
        if not self.reply.token_alive or now - self._last_edit < self.config.progress_edit_seconds:
            return
        self._last_edit = now
        attachments = [preview.to_discord()] if preview else []
        await self.reply.edit(through_channel=False, content=text, attachments=attachments)

    # ----------------------------------------------------------------- the end of a job
    async def _result(self, job: JobRecord) -> None:
        files, embed = render_result(job, self.target.filesize_limit, self.submitted.warnings)
        view = result_view(job)
        placed = await self._already_posted()
        if placed is None and self.reply.token_alive:
            await self._intend("original")
            placed = await self.reply.edit(
                through_channel=False,
                content=None,
                embed=embed,
                attachments=[f.to_discord() for f in files],
                view=view,
            )
        if placed is None:
            await self._intend("channel")
            text = f"<@{self.target.user_id}> your images are ready."
            placed = await self._to_channel(text, files, embed, view)
            if placed is None:
                return
        self._posted = True
        await self._point_reply_to(placed)
        await self._record(placed)

    async def _final_text(self, text: str) -> None:
        """A failure or a refusal: in the reply, else to the channel with a mention."""
        text = f"{clip(text, MAX_CONTENT - 60)} {job_tag(self.job_id)}"  # room for a mention
        placed = await self._already_posted()
        if placed is None and self.reply.token_alive:
            await self._intend("original")
            placed = await self.reply.edit(
                through_channel=False, content=text, embed=None, attachments=[], view=None
            )
        if placed is None:
            await self._intend("channel")
            placed = await self._to_channel(f"<@{self.target.user_id}> {text}", [], None, None)
            if placed is None:
                return
        self._posted = True
        await self._point_reply_to(placed)
        await self._record(None)

    async def _already_posted(self) -> discord.Message | None:
        """After a restart, the result a previous run posted: in the reply or the channel."""
        if not self.ended_before:
            return None
        notes = await self.studio.delivery_notes(self.job_id)
        if notes.intent is None and notes.result is None:
            return None  # nothing was ever posted: no intent was recorded
        current = await self.reply.fetch()
        if current is not None and shows_job(current, self.job_id):
            return current
        client = self.target.client
        try:
            channel = await self._channel()
            if channel is None:
                return None
            async for message in channel.history(limit=HISTORY_LOOKUP):
                if message.author.id == getattr(client.user, "id", None) and shows_job(
                    message, self.job_id
                ):
                    log.info("job %s: found its result posted before the restart", self.job_id)
                    return message
        except discord.HTTPException as exc:
            log.info("job %s: cannot read channel history (%s)", self.job_id, exc)
        return None

    async def _point_reply_to(self, placed: discord.Message) -> None:
        """A result posted apart from the reply: edit the reply to point to it."""
        if placed.id == self.reply.message_id or not self.reply.reachable:
            return
        guild = getattr(placed, "guild", None)
        link = placed.jump_url if guild is not None else f"<#{placed.channel.id}>"
        with contextlib.suppress(discord.HTTPException):
            await self.reply.edit(
                content=f"✅ Done: the result was posted here → {link}",
                embed=None,
                attachments=[],
                view=None,
            )

    async def _intend(self, how: Intent) -> None:
        """Record how the result is about to be delivered; a storage error is logged, not
        raised (the nonce and the lookup after a restart still keep it to one post)."""
        try:
            await self.studio.delivering(self.job_id, how)
        except Exception as exc:
            log.warning("job %s: could not record the delivery intent (%s)", self.job_id, exc)

    async def _record(self, placed: discord.Message | None) -> None:
        """The job is delivered: retried with a growing pause while storage fails, because
        the post is out and must not be posted again."""
        delay = 0.5
        while True:
            try:
                if placed is None:
                    await self.studio.delivered(self.job_id)
                else:
                    await self.studio.delivered(
                        self.job_id, channel_id=placed.channel.id, message_id=placed.id
                    )
                return
            except JobNotFound:
                return  # purged meanwhile: nothing left to record
            except Exception as exc:
                log.warning(
                    "job %s: posted, but recording the delivery failed (%s: %s); retrying in "
                    "%.1f s",
                    self.job_id,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, BOOKKEEPING_RETRY_MAX)

    async def _channel(self) -> discord.abc.Messageable | None:
        """The job's channel (with its guild, for links), None when it cannot take messages."""
        client, channel_id = self.target.client, self.target.channel_id
        channel = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def _to_channel(
        self,
        text: str,
        files: Sequence[OutFile],
        embed: discord.Embed | None,
        view: discord.ui.View | None,
    ) -> discord.Message | None:
        """Post to the channel with a mention; None (recorded on the job) when it cannot."""
        channel_id = self.target.channel_id
        try:
            channel = await self._channel()
            if channel is not None:
                return await channel.send(
                    text,
                    embed=embed or discord.utils.MISSING,
                    files=[f.to_discord() for f in files],
                    view=view or discord.utils.MISSING,
                    nonce=nonce(self.job_id),
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
        await self.studio.undeliverable(self.job_id, problem)
        return None
