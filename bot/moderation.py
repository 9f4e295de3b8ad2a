"""The guild's rules around the service: settings as plain values, bans, and the safety checks.

``GuardedService`` wraps the bot's ``ImagineService`` (the queue) and is what the cogs and buttons
call. Per call it reads the guild's settings and passes them down as plain values: defaults on the
options, the allowed models, the limits on the requester, the channel's safety settings to the
prompt filter and the policy. Before anything is queued: the ban check and the prompt check
(blocked prompts go to the moderation record and the log channel). After generation: every image
is checked and ``safety.decide`` says what is posted, blurred behind a spoiler, withheld, or sent
to the moderators for approval.

The decisions are safety's and the queue's; this module only wires them and tells the log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from bot.guild_settings import GuildSettings, GuildSettingsStore
from bot.services import (
    Blocked,
    ChoiceField,
    Derivation,
    Finished,
    ImagineOptions,
    ImagineService,
    JobEvent,
    JobImage,
    JobRecord,
    Requester,
    Submitted,
)
from generation.errors import InvalidRequest
from safety import (
    Ban,
    ChannelFlags,
    ImageChecker,
    ModerationEntry,
    ModerationRecord,
    PromptFilter,
    PromptVerdict,
    blur_image,
    decide,
)
from safety.errors import InvalidSafetyInput

log = logging.getLogger(__name__)


class Refused(Exception):
    """A request the guild's rules refuse (a ban, a blocked prompt); the message is for the user."""


def ban_text(ban: Ban) -> str:
    until = (
        f"until {discord_time(ban.expires_at)} ({discord_time(ban.expires_at, 'R')})"
        if ban.expires_at is not None
        else "with no end date"
    )
    return f"You are banned from generating images in this server {until}. Reason: {ban.reason}"


def discord_time(when: datetime, style: str = "f") -> str:
    """A timestamp every Discord client shows in the reader's own time zone."""
    return f"<t:{int(when.timestamp())}:{style}>"


class ModLogSink(Protocol):
    """Where moderators hear of things (``bot.modlog`` posts to the guild's log channel)."""

    async def entry(self, settings: GuildSettings, entry: ModerationEntry) -> None: ...

    async def approval(self, settings: GuildSettings, job: JobRecord) -> bool: ...


class GuardedService:
    """``ImagineService`` with the guild's settings, bans and safety checks around ``inner``."""

    def __init__(
        self,
        inner: ImagineService,
        guilds: GuildSettingsStore,
        record: ModerationRecord,
        prompt_filter: PromptFilter,
        images: ImageChecker,
    ) -> None:
        self.inner = inner
        self.guilds = guilds
        self.record = record
        self.prompt_filter = prompt_filter
        self.images = images
        self.modlog: ModLogSink | None = None
        self._channels: dict[str, ChannelFlags] = {}

    # -- before queueing -------------------------------------------------------------------
    async def _admit(self, who: Requester) -> tuple[GuildSettings, Requester]:
        ban = await asyncio.to_thread(self.record.active_ban, who.guild_id, who.user_id)
        if ban is not None:
            raise Refused(ban_text(ban))
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        return settings, replace(
            who, limits=settings.limits(), safety=settings.safety_for(who.channel_id)
        )

    def _flags(self, settings: GuildSettings, who: Requester) -> ChannelFlags:
        return ChannelFlags(
            nsfw=who.channel_nsfw, approval=who.channel_id in settings.approval_channels
        )

    async def _check_prompt(
        self, settings: GuildSettings, who: Requester, prompt: str, negative: str
    ) -> None:
        verdict: PromptVerdict = await self.prompt_filter.check_async(
            prompt,
            negative,
            channel=self._flags(settings, who),
            guild=settings.safety_for(who.channel_id),
        )
        if verdict.allowed:
            return
        entry = await asyncio.to_thread(
            lambda: self.record.record_blocked_prompt(
                verdict,
                guild_id=who.guild_id,
                channel_id=who.channel_id,
                user_id=who.user_id,
                prompt=prompt,
            )
        )
        await self._tell(settings, entry)
        raise Refused(verdict.reason)

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
        await self._check_prompt(settings, who, options.prompt, options.negative or "")
        return self._remember(await self.inner.submit(options, who), settings, who)

    async def derive(
        self, job_id: str, action: Derivation, index: int | None, who: Requester
    ) -> Submitted:
        settings, who = await self._admit(who)
        job = await self.inner.job(job_id)
        if not settings.model_allowed(job.request.model):
            raise InvalidRequest("model", f"{job.request.model!r} is no longer allowed here")
        await self._check_prompt(settings, who, job.request.prompt, job.request.negative_prompt)
        return self._remember(await self.inner.derive(job_id, action, index, who), settings, who)

    async def remix(self, job_id: str, prompt: str, who: Requester) -> Submitted:
        settings, who = await self._admit(who)
        job = await self.inner.job(job_id)
        await self._check_prompt(settings, who, prompt, job.request.negative_prompt)
        return self._remember(await self.inner.remix(job_id, prompt, who), settings, who)

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
            approval=job.channel_id in settings.approval_channels
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

    async def report(self, job_id: str, who: Requester, reason: str) -> None:
        job = await self.inner.job(job_id)
        try:
            outcome = await asyncio.to_thread(
                lambda: self.record.report(
                    job_id,
                    guild_id=who.guild_id,
                    channel_id=who.channel_id,
                    reporter_id=who.user_id,
                    author_id=job.user_id,
                    reason=reason,
                )
            )
        except InvalidSafetyInput as exc:
            raise InvalidRequest(exc.field, exc.message) from exc
        if outcome.entry is not None:
            settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
            await self._tell(settings, outcome.entry)
            if outcome.newly_hidden:  # the record logged "hidden" right after this report
                hidden = await asyncio.to_thread(self.record.recent, who.guild_id, 1, ("hidden",))
                if hidden and hidden[0].job_id == job_id:
                    await self._tell(settings, hidden[0])
        await self.inner.report(job_id, who, reason)

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
