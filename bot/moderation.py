"""The guild around the studio: its settings as plain values per call, and its moderators' log.

``GuardedService`` wraps the studio (``generation.studio``) and is what the cogs and buttons call.
Per call it reads the guild's settings and passes them down as plain values on the requester:
the defaults and allowed models (for the studio), the limits (for the queue) and the channel's
safety settings (for the studio's ban and prompt checks and its image policy, which write the
moderation record). This module adds what the guild's moderators see: blocked prompts, reports and
flagged images go to the log channel, and in approval channels results wait for a moderator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from datetime import datetime
from typing import Protocol, TypeVar

from bot.guild_settings import GuildSettings, GuildSettingsStore
from generation.studio import Studio
from generation.studio_types import (
    Blocked,
    ChoiceField,
    Derivation,
    Finished,
    ImagineOptions,
    JobEvent,
    JobRecord,
    Orphan,
    PromptBlocked,
    Reported,
    Requester,
    Submitted,
)
from safety import (
    ModerationEntry,
    ModerationRecord,
)

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

    def __init__(self, inner: Studio, guilds: GuildSettingsStore) -> None:
        self.inner = inner
        self.guilds = guilds
        self.record: ModerationRecord = inner.record
        self.modlog: ModLogSink | None = None
        self._awaiting: dict[str, JobRecord] = {}  # results held for approval, as screened

    # -- before queueing -------------------------------------------------------------------
    async def _admit(self, who: Requester) -> tuple[GuildSettings, Requester]:
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        return settings, replace(
            who,
            limits=settings.limits(),
            safety=settings.safety_for(who.channel_id),
            rules=settings.rules(),
        )

    async def _telling_blocks(
        self, settings: GuildSettings, who: Requester, call: Awaitable[T]
    ) -> T:
        """Run ``call``; when the service blocked the prompt (and recorded it), tell the log."""
        try:
            return await call
        except PromptBlocked as blocked:
            if blocked.entry is not None:
                await self._tell(settings, blocked.entry)
            raise

    async def submit(self, options: ImagineOptions, who: Requester) -> Submitted:
        settings, who = await self._admit(who)
        return await self._telling_blocks(settings, who, self.inner.submit(options, who))

    async def derive(
        self, job_id: str, action: Derivation, index: int | None, who: Requester
    ) -> Submitted:
        settings, who = await self._admit(who)
        return await self._telling_blocks(
            settings, who, self.inner.derive(job_id, action, index, who)
        )

    async def remix(self, job_id: str, prompt: str, who: Requester) -> Submitted:
        settings, who = await self._admit(who)
        return await self._telling_blocks(settings, who, self.inner.remix(job_id, prompt, who))

    # -- after generation --------------------------------------------------------------------
    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The service's events (its image check and policy already applied), with the log told
        of flagged images and, in approval channels, results held for the moderators."""
        async for event in self.inner.events(job_id):
            if isinstance(event, Finished | Blocked):
                event = await self._after_screening(job_id, event)
            yield event

    async def _after_screening(self, job_id: str, event: Finished | Blocked) -> JobEvent:
        job = self.inner.queue.get(job_id)
        guild_id, channel_id = int(job.guild_id), int(job.channel_id)
        settings = await asyncio.to_thread(self.guilds.get, guild_id)
        for entry in event.logged:
            await self._tell(settings, entry)
        if isinstance(event, Blocked) or channel_id not in settings.approval_channels:
            return event
        if self.modlog is None or not await self.modlog.approval(settings, event.job):
            return Blocked("This channel needs approval, but no moderators' channel is set.")
        self._awaiting[job_id] = event.job
        return Blocked(
            "This channel needs a moderator's approval: your images were sent to the "
            "moderators and will be posted here once approved."
        )

    async def postable(self, job_id: str) -> JobRecord | str:
        """A result as it may be posted now (held for approval, or checked again), or why not."""
        held = self._awaiting.pop(job_id, None)
        if held is not None:
            return held
        screened = await self.inner.screen(await self.inner.job(job_id))
        return screened.job if isinstance(screened, Finished) else screened.message

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
        if reported.entries:
            settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
            for entry in reported.entries:
                await self._tell(settings, entry)
        return reported

    async def delivered(
        self,
        job_id: str,
        problem: str | None = None,
        *,
        channel_id: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        return await self.inner.delivered(
            job_id, problem, channel_id=channel_id, message_id=message_id
        )

    async def result_message(self, job_id: str) -> tuple[int, int] | None:
        return await self.inner.result_message(job_id)

    async def orphans(self) -> list[Orphan]:
        return await self.inner.orphans()

    async def choices(self, field: ChoiceField, who: Requester) -> list[str]:
        _, who = await self._admit(who)
        return await self.inner.choices(field, who)

    def prompt_of(self, job: JobRecord) -> str:
        return self.inner.prompt_of(job)
