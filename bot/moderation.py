"""The guild's rules around the service: settings as plain values, the moderation log, and the
image checks after generation.

``GuardedService`` wraps the bot's ``QueueImagineService`` and is what the cogs and buttons call.
Per call it reads the guild's settings and passes them down as plain values: defaults on the
options, the allowed models, and on the requester the limits (for the queue) and the channel's
safety settings (for the service's ban and prompt check, which records blocked prompts). This
module adds what the guild's moderators see: blocked prompts, reports and flagged images go to the
log channel. After generation every image is checked and ``safety.decide`` says what is posted,
blurred behind a spoiler, withheld, or sent to the moderators for approval.

The decisions are safety's and the queue's; this module only wires them and tells the log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol, TypeVar

from bot.guild_settings import GuildSettings, GuildSettingsStore
from bot.queue_service import QueueImagineService
from bot.services import (
    Blocked,
    ChoiceField,
    Derivation,
    Finished,
    ImagineOptions,
    JobEvent,
    JobImage,
    JobRecord,
    PromptBlocked,
    Reported,
    Requester,
    Submitted,
)
from generation.errors import InvalidRequest
from safety import (
    ChannelFlags,
    ImageChecker,
    ModerationEntry,
    ModerationRecord,
    blur_image,
    decide,
)
from safety.record import EntryKind

log = logging.getLogger(__name__)
T = TypeVar("T")


class Refused(Exception):
    """A request the guild's rules refuse; the message is for the user."""


def discord_time(when: datetime, style: str = "f") -> str:
    """A timestamp every Discord client shows in the reader's own time zone."""
    return f"<t:{int(when.timestamp())}:{style}>"


class ModLogSink(Protocol):
    """Where moderators hear of things (``bot.modlog`` posts to the guild's log channel)."""

    async def entry(self, settings: GuildSettings, entry: ModerationEntry) -> None: ...

    async def approval(self, settings: GuildSettings, job: JobRecord) -> bool: ...


class GuardedService:
    """``ImagineService`` with the guild's settings, the log and the image checks."""

    def __init__(
        self,
        inner: QueueImagineService,
        guilds: GuildSettingsStore,
        images: ImageChecker,
    ) -> None:
        self.inner = inner
        self.guilds = guilds
        self.images = images
        self.record: ModerationRecord = inner.record
        self.prompt_filter = inner.prompt_filter
        self.modlog: ModLogSink | None = None
        # Whether a channel is age-restricted, for jobs that outlived the process that took
        # them (the client's channel cache; set at start-up).
        self.channel_nsfw: Callable[[int], bool] = lambda channel_id: False
        self._channels: dict[str, ChannelFlags] = {}

    # -- before queueing -------------------------------------------------------------------
    async def _admit(self, who: Requester) -> tuple[GuildSettings, Requester]:
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        return settings, replace(
            who, limits=settings.limits(), safety=settings.safety_for(who.channel_id)
        )

    def _flags(self, settings: GuildSettings, who: Requester) -> ChannelFlags:
        return ChannelFlags(
            nsfw=who.channel_nsfw, approval=who.channel_id in settings.approval_channels
        )

    async def _latest(
        self,
        guild_id: int,
        kinds: Sequence[EntryKind],
        *,
        user_id: int | None = None,
        job_id: str | None = None,
    ) -> list[ModerationEntry]:
        """The record's newest entries of ``kinds`` about this user or job (just written)."""
        entries = await asyncio.to_thread(self.record.recent, guild_id, 10, kinds)
        return [
            e
            for e in entries
            if (user_id is None or e.user_id == user_id) and (job_id is None or e.job_id == job_id)
        ]

    async def _telling_blocks(
        self, settings: GuildSettings, who: Requester, call: Awaitable[T]
    ) -> T:
        """Run ``call``; when the service blocked the prompt (and recorded it), tell the log."""
        try:
            return await call
        except PromptBlocked:
            found = await self._latest(
                who.guild_id, ("blocked_prompt", "absolute_rule"), user_id=who.user_id
            )
            if found:
                await self._tell(settings, found[0])
            raise

    def _with_defaults(self, settings: GuildSettings, options: ImagineOptions) -> ImagineOptions:
        filled = options.model_copy(
            update={
                "model": options.model or settings.default_model,
                "steps": options.steps or settings.default_steps,
                "cfg": options.cfg if options.cfg is not None else settings.default_cfg,
                "aspect": options.aspect or settings.default_aspect,
                "negative": (
                    options.negative if options.negative is not None else settings.default_negative
                ),
            }
        )
        model = filled.model
        if model is not None and not settings.model_allowed(model):
            allowed = ", ".join(settings.allowed_models)
            raise InvalidRequest("model", f"{model!r} is not allowed here; use one of: {allowed}")
        if model is None and settings.allowed_models:
            filled = filled.model_copy(update={"model": settings.allowed_models[0]})
        return filled

    def _remember(self, submitted: Submitted, settings: GuildSettings, who: Requester) -> Submitted:
        self._channels[submitted.job_id] = self._flags(settings, who)
        return submitted

    async def submit(self, options: ImagineOptions, who: Requester) -> Submitted:
        settings, who = await self._admit(who)
        options = self._with_defaults(settings, options)
        submitted = await self._telling_blocks(settings, who, self.inner.submit(options, who))
        return self._remember(submitted, settings, who)

    async def derive(
        self, job_id: str, action: Derivation, index: int | None, who: Requester
    ) -> Submitted:
        settings, who = await self._admit(who)
        job = await self.inner.job(job_id)
        if not settings.model_allowed(job.request.model):
            raise InvalidRequest("model", f"{job.request.model!r} is no longer allowed here")
        # The service checks bans and prompts on submit and remix only; a derived job reuses a
        # stored prompt, but a ban, or a term added since, must stop it too.
        await self._telling_blocks(settings, who, self.inner._check_prompt(job.request.prompt, who))
        return self._remember(await self.inner.derive(job_id, action, index, who), settings, who)

    async def remix(self, job_id: str, prompt: str, who: Requester) -> Submitted:
        settings, who = await self._admit(who)
        submitted = await self._telling_blocks(settings, who, self.inner.remix(job_id, prompt, who))
        return self._remember(submitted, settings, who)

    # -- after generation --------------------------------------------------------------------
    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        async for event in self.inner.events(job_id):
            if isinstance(event, Finished):
                yield await self._judge(event.job)
            else:
                yield event

    async def _judge(self, job: JobRecord) -> JobEvent:
        """Check every image; post, blur, withhold or send for approval as the policy says."""
        settings = await asyncio.to_thread(self.guilds.get, job.guild_id)
        screened, needs_approval = await self.screen(job, settings)
        if isinstance(screened, str):
            return Blocked(screened)
        if needs_approval:
            if self.modlog is not None and await self.modlog.approval(settings, screened):
                return Blocked(
                    "This channel needs a moderator's approval: your images were sent to the "
                    "moderators and will be posted here once approved."
                )
            return Blocked("This channel needs approval, but no moderators' channel is set.")
        return Finished(screened)

    async def screen(self, job: JobRecord, settings: GuildSettings) -> tuple[JobRecord | str, bool]:
        """The job as it may be shown (blurred images swapped in), or why nothing may be; and
        whether it must wait for a moderator's approval. Flagged images are recorded."""
        flags = self._channels.get(job.job_id) or ChannelFlags(
            nsfw=self.channel_nsfw(job.channel_id),
            approval=job.channel_id in settings.approval_channels,
        )
        guild = settings.safety_for(job.channel_id)
        prompt = await self.prompt_filter.check_async(
            job.request.prompt, channel=flags, guild=guild
        )
        verdicts = await self.images.check_batch_async([image.png for image in job.images])
        decision = decide(prompt, verdicts, flags, guild)
        for verdict, choice in zip(verdicts, decision.images, strict=True):
            if choice.log and verdict.status != "safe":
                entry = await asyncio.to_thread(
                    functools.partial(
                        self.record.record_image,
                        verdict,
                        guild_id=job.guild_id,
                        channel_id=job.channel_id,
                        user_id=job.user_id,
                        job_id=job.job_id,
                        action=choice.action,
                    )
                )
                await self._tell(settings, entry)
        kept: list[JobImage] = []
        for image, choice in zip(job.images, decision.images, strict=True):
            if choice.action == "post":
                kept.append(image)
            elif choice.action == "post_blurred":
                png = await asyncio.to_thread(blur_image, image.png)
                kept.append(JobImage(png, image.seed))
        if not kept:
            reasons = {c.reason for c in decision.images if c.reason}
            return " ".join(sorted(reasons)) or "The images were withheld.", False
        blurred = any(c.action == "post_blurred" for c in decision.images)
        judged = replace(job, images=kept, spoiler=blurred)
        return judged, any(c.needs_approval for c in decision.images)

    async def _tell(self, settings: GuildSettings, entry: ModerationEntry) -> None:
        if self.modlog is not None:
            try:
                await self.modlog.entry(settings, entry)
            except Exception:  # the log is a courtesy; the record already holds the entry
                log.exception("could not post moderation entry %s", entry.id)

    # -- the rest, as the inner service does it ----------------------------------------------
    async def job(self, job_id: str) -> JobRecord:
        return await self.inner.job(job_id)

    async def delete(self, job_id: str, who: Requester) -> None:
        await self.inner.delete(job_id, who)

    async def report(self, job_id: str, who: Requester, reason: str) -> Reported:
        reported = await self.inner.report(job_id, who, reason)
        if reported.accepted:
            settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
            entries = await self._latest(who.guild_id, ("report", "hidden"), job_id=job_id)
            report = next((e for e in entries if e.actor_id == who.user_id), None)
            hidden = next((e for e in entries if e.kind == "hidden"), None)
            for entry in (report, hidden if reported.hidden else None):
                if entry is not None:
                    await self._tell(settings, entry)
        return reported

    async def delivered(self, job_id: str, problem: str | None = None) -> bool:
        self._channels.pop(job_id, None)
        return await self.inner.delivered(job_id, problem)

    def choices(self, field: ChoiceField, guild_id: int) -> list[str]:
        values = self.inner.choices(field, guild_id)
        if field == "model":
            settings = self.guilds.get(guild_id)
            return [v for v in values if settings.model_allowed(v)]
        return values

    def prompt_of(self, job: JobRecord) -> str:
        return self.inner.prompt_of(job)
