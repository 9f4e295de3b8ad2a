"""The safety policy on a finished job: post each image, blur it behind a spoiler, or withhold it.

Every text that conditioned the images is checked again (a term added since, or the channel's
policy), every image goes through the image classifier, and ``safety.decide`` combines them with
the model's own safety checker, the channel and the guild's choices. Flagged and uncheckable
images are written to the moderation record.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, replace

from safety import (
    ChannelFlags,
    GuildSafety,
    ImageChecker,
    ImageVerdict,
    ModerationEntry,
    ModerationRecord,
    PromptFilter,
    PromptVerdict,
    blur_image,
    decide,
)
from safety.config import SafetyConfig
from studio.planning import request_texts
from studio.types import JobImage, JobRecord


@dataclass(frozen=True)
class Screened:
    """``job`` with only the images that may be posted (blurred where the policy says), or
    ``withheld`` (why nothing may be posted); ``logged``: what the record wrote of it."""

    job: JobRecord
    withheld: str | None
    logged: tuple[ModerationEntry, ...]


InputRefusal = tuple[int, ImageVerdict, str]
"""Which input picture (its index) is refused, the classifier's verdict, and why."""


class Screener:
    def __init__(
        self,
        prompt_filter: PromptFilter,
        image_checker: ImageChecker,
        record: ModerationRecord,
        config: SafetyConfig,
    ) -> None:
        self.prompt_filter = prompt_filter
        self.image_checker = image_checker
        self.record = record
        self.config = config

    async def check_inputs(
        self,
        pictures: list[bytes],
        prompt: PromptVerdict,
        channel: ChannelFlags,
        guild: GuildSafety,
    ) -> InputRefusal | None:
        """The first input picture the policy would not post as it is here (blurred counts as
        not: a result painted from it would show it), or None when all may be used."""
        if not pictures:
            return None
        verdicts = await self.image_checker.check_batch_async(pictures)
        decision = decide(prompt, verdicts, channel, guild)
        for number, (verdict, choice) in enumerate(zip(verdicts, decision.images, strict=True)):
            if choice.action != "post":
                reason = choice.reason.replace("posted blurred behind a spoiler", "refused")
                return number, verdict, reason
        return None

    async def screen(
        self,
        job: JobRecord,
        channel: ChannelFlags,
        guild: GuildSafety,
        *,
        log_flagged: bool = True,
    ) -> Screened:
        """``log_flagged`` False: the job was screened (and recorded) before; this is again."""
        prompt = await self.prompt_filter.check_many_async(
            request_texts(job.request), channel=channel, guild=guild
        )
        verdicts = await self.image_checker.check_batch_async([i.png for i in job.images])
        flags = [image.model_nsfw for image in job.images]
        decision = decide(prompt, verdicts, channel, guild, model_nsfw=flags)
        logged = []
        for verdict, choice in zip(verdicts, decision.images, strict=True):
            # Flagged or uncheckable, and not recorded before: for the moderators.
            if log_flagged and choice.log and not verdict.safe:
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
                logged.append(entry)
        kept = []
        for image, choice in zip(job.images, decision.images, strict=True):
            if choice.action == "post":
                kept.append(image)
            elif choice.action == "post_blurred":
                fraction = self.config.blur_radius_fraction
                blurred = await asyncio.to_thread(blur_image, image.png, fraction)
                kept.append(JobImage(blurred, image.seed, spoiler=True))
        withheld = None
        if not kept:
            withheld = next((d.reason for d in decision.images if d.reason), "withheld")
        return Screened(replace(job, images=kept), withheld, tuple(logged))
