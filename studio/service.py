"""The studio: what a member asked, turned into queued jobs, and their screened results back.

The front end (``bot/``) calls these methods with plain values and renders what comes back;
every rule between "a member clicked" and "a job runs" and back is here or in the modules this
composes: planning (``studio.planning``), derived requests (``studio.derivations``), guild
settings (``studio.administration``), moderation (``studio.moderation``), screening
(``studio.screening``) and the delivery record (``studio.deliveries``). Moderators' log messages
leave through ``notices()``.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from PIL import Image

from generation.catalog import ModelSpec
from generation.families import traits
from generation.queue import Job, JobStatus, NotAllowed, Origin, QueueService
from generation.queue.jobs import MemberJob
from generation.requests import GenerationRequest
from generation.schedulers import SCHEDULER_NAMES
from generation.sizes import ASPECTS
from prompting import BuiltPrompt, Preset, PromptSpec
from safety import ChannelFlags, ModerationRecord, PromptFilter, PromptVerdict
from studio import canvas, derivations
from studio.administration import SettingsDesk
from studio.deliveries import DeliveryRecord, Intent, JobNotes
from studio.errors import InputBlocked, InvalidRequest, PromptBlocked
from studio.gallery import Gallery
from studio.guides import control_mode_choices
from studio.guild_settings import GuildSettings, GuildSettingsStore
from studio.history import HistoryIndex
from studio.image_inputs import InputPicture, read_picture
from studio.moderation import Decision, ModerationDesk
from studio.planning import Planner, conditioning_texts, request_texts
from studio.preferences import PreferencesDesk, PreferenceStore
from studio.quotas import LANE_PRIORITY, Quotas, UsageLedger
from studio.screening import Screener
from studio.types import (
    ApprovalNotice,
    Blocked,
    ChoiceField,
    Deleted,
    DeliveryTarget,
    Derivation,
    Failed,
    Finished,
    ImagineOptions,
    JobEvent,
    JobImage,
    JobRecord,
    Notice,
    Orphan,
    Progress,
    Queued,
    Reported,
    Requester,
    Submitted,
)
from studio.views import (
    Cancelled,
    Decided,
    InstanceView,
    PendingJob,
    QueueView,
    closest_aspect,
)

log = logging.getLogger(__name__)

_PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)
_NO_APPROVAL_CHANNEL = "This channel needs approval, but no moderators' channel is set."
_WAITING_FOR_APPROVAL = (
    "This channel needs a moderator's approval: your images were sent to the moderators and "
    "will be posted here once approved."
)


class Studio:
    """The application core the front ends call. Every collaborator comes in here, built once
    by the start-up wiring (``bot.wiring``)."""

    def __init__(
        self,
        *,
        queue: QueueService,
        planner: Planner,
        guilds: GuildSettingsStore,
        record: ModerationRecord,
        deliveries: DeliveryRecord,
        prompt_filter: PromptFilter,
        screener: Screener,
        history: HistoryIndex,
        preferences: PreferenceStore,
        usage: UsageLedger,
    ) -> None:
        self.queue = queue
        self.planner = planner
        self.guilds = guilds
        self.record = record
        self.deliveries = deliveries
        self.prompt_filter = prompt_filter
        self.screener = screener
        self._notices: asyncio.Queue[Notice] = asyncio.Queue()
        self.settings = SettingsDesk(guilds)
        self.moderation = ModerationDesk(record, guilds, deliveries, self._notices.put_nowait)
        self.gallery = Gallery(history, queue, record, self.moderation, self._record)
        self.preferences = PreferencesDesk(preferences, planner, guilds)
        self.quotas = Quotas(usage, queue.estimator.estimate, queue.store.get)
        # One admission at a time per member, so that requests sent at the same moment are
        # counted against the quota one after the other (a lock lives while someone holds it).
        self._admissions: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def warm_up(self) -> None:
        """Build the prompt parser and the term index now (about a second, blocking), so the
        first /imagine does not stall the event loop while other interactions wait."""
        self.planner.plan(ImagineOptions(prompt="a (warm:1.1) [up|start]", count=1))
        self.prompt_filter.check("a warm up")
        self._index_older_results()

    def _index_older_results(self) -> None:
        """Once per state file: the results delivered before the history index existed."""
        if self.gallery.index.backfilled():
            return
        jobs = self.queue.store.by_status(JobStatus.DONE)
        added = self.gallery.backfill(jobs, lambda job_id: self.deliveries.notes(job_id).held)
        if added:
            log.info("history: indexed %d results of earlier versions", added)

    async def read_picture(self, data: bytes, field: str) -> InputPicture:
        """A member's file as a clean picture (``studio.image_inputs``), within the instance's
        pixel cap, decoded off the event loop; ``InvalidRequest`` on ``field`` otherwise."""
        cap = self.planner.options.input_max_pixels
        return await asyncio.to_thread(
            functools.partial(read_picture, data, field=field, max_pixels=cap)
        )

    @property
    def input_max_bytes(self) -> int:
        """The largest input file the instance reads (Discord's upload limit may be lower)."""
        return self.planner.options.input_max_bytes

    async def notices(self) -> AsyncIterator[Notice]:
        """What the moderators' channels should show, as it happens (one consumer)."""
        while True:
            yield await self._notices.get()

    # ----------------------------------------------------------------- painting
    async def submit(
        self,
        options: ImagineOptions,
        who: Requester,
        target: DeliveryTarget | None = None,
        *,
        personal: bool = True,
    ) -> Submitted:
        """Queue a job, or raise the error that says why not (bad option, limit, ban, prompt,
        quota). ``personal``: apply the member's own defaults (not for "Use these settings",
        whose options are a whole job's)."""
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        preferences = (
            await asyncio.to_thread(self.preferences.store.get, who.guild_id, who.user_id)
            if personal
            else None
        )
        # Off the event loop: the A1111 parser and compel's grammar take milliseconds each, which a
        # burst of hundreds of interactions would otherwise spend between Discord's answers.
        plan = await asyncio.to_thread(
            functools.partial(self.planner.plan, options, settings.rules(), preferences=preferences)
        )
        verdict = await self._check_prompt(plan.texts, who, settings)
        await self._check_inputs(options.input_pictures(), verdict, who, settings, options.prompt)
        submitted = await self._queue(plan.request, who, settings, Origin(), target)
        return Submitted(
            submitted.job_id,
            submitted.position,
            submitted.eta_seconds,
            plan.warnings,
            submitted.lane,
        )

    async def derive(
        self,
        job_id: str,
        action: Derivation,
        index: int | None,
        who: Requester,
        target: DeliveryTarget | None = None,
    ) -> Submitted:
        """A new job from a stored one: reroll, subtle/strong variation or upscale of image
        ``index`` (0-based; None for the whole job). A draft's upscale repaints the image with
        the full model at the same seed and prompt."""
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        job = self.queue.get(job_id)
        self._still_allowed(job, settings)
        position = index or 0
        full = self.planner.full_model(job.request) if action == "upscale" else None
        if action == "reroll":
            request = derivations.reroll(job.request)
        elif full is not None:
            if not settings.rules().allows(full.name):
                raise InvalidRequest("model", f"{full.name!r}, the full model, is not allowed here")
            steps, guidance, scheduler = self.planner.defaults(full, settings.rules())
            request = derivations.repaint_full(
                job.request,
                job.seeds,
                position,
                model=full.name,
                steps=steps,
                guidance=guidance,
                scheduler=scheduler,
            )
        elif action in canvas.MOVES:
            request = await self._masked_edit(
                job, position, lambda p, s: canvas.outpaint(p, action, s)
            )
        elif action == "upscale":
            derivations.check_index(job.seeds, position)
            family = self.planner.catalog.resolve(job.request.model).family
            derivations.upscaled_size(family, job.request, self.planner.engine.max_upscale_pixels)
            png = await asyncio.to_thread(Path(job.image_paths[position]).read_bytes)
            request = derivations.upscale(job.request, job.seeds, position, png)
        elif job.request.mode != "txt2img":  # painted from a picture: no variation seeds
            derivations.check_index(job.seeds, position)
            strength = derivations.VARIATION_STRENGTH[action]
            most = self.planner.model(job.request.model).max_steps
            if most is not None:  # a few-step model: the least strength its steps can paint
                strength = max(strength, math.ceil(100 / most) / 100)
            png = await asyncio.to_thread(Path(job.image_paths[position]).read_bytes)
            request = derivations.repaint_variation(job.request, job.seeds, position, png, strength)
        else:
            strength = derivations.VARIATION_STRENGTH[action]
            request = derivations.variation(job.request, job.seeds, position, strength)
        # A derived job reuses a stored prompt, but a ban, or a term added since, stops it too.
        await self._check_prompt(request_texts(request), who, settings)
        origin = Origin(kind="button", action=action, parent_job_id=job_id)
        return await self._queue(request, who, settings, origin, target)

    async def remix(
        self, job_id: str, prompt: str, who: Requester, target: DeliveryTarget | None = None
    ) -> Submitted:
        """The stored job's settings with an edited prompt (the whole positive prompt: no
        preset and no default negative again)."""
        job, settings, model, built = await self._edited(job_id, prompt, who, single=False)
        request = derivations.remix(job.request, built)
        return await self._queue_edited(
            request, "remix", job_id, who, settings, target, model, built
        )

    async def _edited(
        self, job_id: str, prompt: str, who: Requester, *, single: bool
    ) -> tuple[Job, GuildSettings, ModelSpec, BuiltPrompt]:
        """The stored job, its guild's settings and model, and ``prompt`` built for it as the
        whole positive prompt (for one image when ``single``), checked like any prompt."""
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        job = self.queue.get(job_id)
        self._still_allowed(job, settings)
        model = self.planner.model(job.request.model)
        built = self.planner.build_prompt(
            PromptSpec(subject=prompt, use_default_negative=False),
            model,
            count=1 if single else job.request.count,
            steps=job.request.steps,
        )
        await self._check_prompt(conditioning_texts(built, prompt), who, settings)
        return job, settings, model, built

    async def _queue_edited(
        self,
        request: GenerationRequest,
        action: str,
        parent: str,
        who: Requester,
        settings: GuildSettings,
        target: DeliveryTarget | None,
        model: ModelSpec,
        built: BuiltPrompt,
    ) -> Submitted:
        origin = Origin(kind="button", action=action, parent_job_id=parent)
        queued = await self._queue(request, who, settings, origin, target)
        warnings = self.planner.warnings(built, model)
        return Submitted(queued.job_id, queued.position, queued.eta_seconds, warnings)

    async def vary_region(
        self,
        job_id: str,
        index: int,
        region: str,
        prompt: str,
        who: Requester,
        target: DeliveryTarget | None = None,
    ) -> Submitted:
        """Image ``index`` of a stored job with ``region`` (one of ``canvas.REGIONS``) painted
        again from ``prompt`` (the whole positive prompt, as remix takes it)."""
        if region not in canvas.REGIONS:
            raise InvalidRequest("region", f"use one of {', '.join(canvas.REGIONS)}")
        job, settings, model, built = await self._edited(job_id, prompt, who, single=True)
        request = await self._masked_edit(
            job, index, lambda p, s: canvas.region(p, region, s), built
        )
        return await self._queue_edited(
            request, "vary_region", job_id, who, settings, target, model, built
        )

    async def region(
        self,
        options: ImagineOptions,
        mask: InputPicture,
        who: Requester,
        target: DeliveryTarget | None = None,
    ) -> Submitted:
        """``/region``: the member's picture (``options.image``) with the white part of their
        ``mask`` painted again from the prompt, planned like /imagine (model, steps, seed, the
        member's defaults) at the picture's shape. Both pictures are screened like any input."""
        if options.image is None:
            raise InvalidRequest("image", "attach the picture to change")
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        preferences = await asyncio.to_thread(self.preferences.store.get, who.guild_id, who.user_id)
        single = options.model_copy(update={"count": 1})
        plan = await asyncio.to_thread(
            functools.partial(self.planner.plan, single, settings.rules(), preferences=preferences)
        )
        verdict = await self._check_prompt(plan.texts, who, settings)
        pictures = [("image", options.image), ("mask", mask)]
        await self._check_inputs(pictures, verdict, who, settings, options.prompt)
        image = options.image
        size = (plan.request.width, plan.request.height)

        def build() -> canvas.Canvas:
            return canvas.with_mask(
                canvas.open_picture(image.png), canvas.open_picture(mask.png), size
            )

        made = await asyncio.to_thread(build)
        request = derivations.canvas_request(plan.request, made, options.strength)
        origin = Origin(kind="command", action="region")
        queued = await self._queue(request, who, settings, origin, target)
        return Submitted(
            queued.job_id, queued.position, queued.eta_seconds, plan.warnings, queued.lane
        )

    async def _masked_edit(
        self,
        job: Job,
        index: int,
        make: Callable[[Image.Image, tuple[int, int]], canvas.Canvas],
        built: BuiltPrompt | None = None,
    ) -> GenerationRequest:
        """Image ``index`` of ``job`` on the canvas ``make`` builds at the image's size (shrunk
        to the engine's pixel limit, e.g. for an upscaled image), as an inpainting request."""
        derivations.check_index(job.seeds, index)
        png = await asyncio.to_thread(Path(job.image_paths[index]).read_bytes)
        family = self.planner.catalog.resolve(job.request.model).family

        def build() -> canvas.Canvas:
            picture = canvas.open_picture(png)
            size = canvas.fit_size(
                family, picture.width, picture.height, self.planner.engine.max_pixels
            )
            return make(picture, size)

        made = await asyncio.to_thread(build)
        return derivations.masked_edit(job.request, job.seeds, index, made, built)

    def remix_prompt(self, job: JobRecord) -> str:
        """The prompt a member edits to remix a job: what they wrote (A1111 syntax, the
        preset's words included), else the compel text of a job stored before that was kept."""
        return _written(job.request)

    async def reuse(self, job_id: str) -> ImagineOptions:
        """A job's settings as options, for "Use these settings" to prefill."""
        request = (await asyncio.to_thread(self.queue.get, job_id)).request
        distilled = (
            request.model in self.planner.catalog
            and traits(self.planner.catalog.resolve(request.model).family).guidance == "distilled"
        )
        source, negative = request.source_prompt, request.source_negative
        return ImagineOptions(
            prompt=source if source is not None else request.prompt,
            negative=negative if negative is not None else request.negative_prompt,
            steps=request.steps,
            cfg=None if distilled else request.guidance,
            guidance=request.guidance if distilled else None,
            seed=request.seed,
            count=request.count,
            model=request.model,
            scheduler=request.scheduler,
            aspect=closest_aspect(request.width, request.height),
            tile=request.tile,
            **await asyncio.to_thread(self._reused_pictures, request),
        )

    def _reused_pictures(self, request: GenerationRequest) -> dict[str, Any]:
        """The pictures a job was painted from, as the options that gave them (``image`` and
        ``strength`` of an img2img job, ``sref``/``cref`` with their weights, ``control`` with
        its mode and scale), read back from the input store: without them "Use these settings"
        would paint the prompt alone. A picture the retention removed is named in the error."""
        inputs = self.queue.store.inputs

        def stored(digest: str, field: str) -> InputPicture:
            try:
                png = inputs.get(digest)
            except InvalidRequest:
                raise InvalidRequest(
                    field, "the picture is no longer stored (removed after the retention)"
                ) from None
            with Image.open(io.BytesIO(png)) as opened:
                width, height = opened.size
            return InputPicture(png=png, width=width, height=height, sha256=digest)

        found: dict[str, Any] = {}
        if request.mode == "img2img" and request.init_image_sha256 is not None:
            found |= {
                "image": stored(request.init_image_sha256, "image"),
                "strength": request.strength,
            }
        for reference in request.references:
            field = "sref" if reference.kind == "style" else "cref"
            found |= {field: stored(reference.sha256, field), f"{field}_weight": reference.weight}
        if request.control is not None:
            found |= {
                "control": stored(request.control.sha256, "control"),
                "control_mode": f"{request.control.mode}:{request.control.scale:g}",
            }
        return found

    async def _check_prompt(
        self, texts: list[str], who: Requester, settings: GuildSettings
    ) -> PromptVerdict:
        """Refuse a banned member, then a request whose texts (every one that conditions an
        image, checked together) the channel's policy does not allow; the refusal is recorded for
        the moderators and told to the log."""
        await self.moderation.refuse_if_banned(who)
        verdict = await self.prompt_filter.check_many_async(
            texts,
            channel=ChannelFlags(nsfw=who.channel_nsfw),
            guild=settings.safety_for(who.channel_id),
        )
        if verdict.allowed:
            return verdict
        entry = await asyncio.to_thread(
            functools.partial(
                self.record.record_blocked_prompt,
                verdict,
                guild_id=who.guild_id,
                channel_id=who.channel_id,
                user_id=who.user_id,
                prompt=texts[0],
            )
        )
        await self.moderation.tell(entry, settings)
        raise PromptBlocked(verdict.reason, entry)

    async def _check_inputs(
        self,
        pictures: list[tuple[str, InputPicture]],
        prompt: PromptVerdict,
        who: Requester,
        settings: GuildSettings,
        typed: str,
    ) -> None:
        """Refuse a request whose input picture (each named by its option) the image
        classifier and the channel's policy would not let be posted here: a picture the policy
        would blur or withhold is refused, since a result painted from it would show it. The
        refusal is recorded for the moderators (hash and labels, not the picture) and told to
        the log; nothing is stored."""
        refusal = await self.screener.check_inputs(
            [picture.png for _, picture in pictures],
            prompt,
            ChannelFlags(nsfw=who.channel_nsfw),
            settings.safety_for(who.channel_id),
        )
        if refusal is None:
            return
        index, verdict, reason = refusal
        field, picture = pictures[index]
        entry = await asyncio.to_thread(
            functools.partial(
                self.record.record_blocked_input,
                verdict,
                guild_id=who.guild_id,
                channel_id=who.channel_id,
                user_id=who.user_id,
                field=field,
                sha256=picture.sha256,
                reason=reason,
                prompt=typed,
            )
        )
        await self.moderation.tell(entry, settings)
        raise InputBlocked(f"Your `{field}` picture cannot be used here. {reason}", entry)

    async def _queue(
        self,
        request: GenerationRequest,
        who: Requester,
        settings: GuildSettings,
        origin: Origin,
        target: DeliveryTarget | None,
    ) -> Submitted:
        moderator = self.moderation.is_moderator(who, settings)
        async with self._admission(who):
            lane = await asyncio.to_thread(self.quotas.admit, who, settings, request, moderator)
            ticket = await self.queue.submit(
                guild_id=str(who.guild_id),
                channel_id=str(who.channel_id),
                user_id=str(who.user_id),
                request=request,
                priority="moderator" if moderator and lane == "fast" else LANE_PRIORITY[lane],
                origin=origin,
                limits=settings.limits(),
            )
            # No await between the submit and this note: its result cannot be screened first.
            self.deliveries.asked(
                ticket.job_id, channel_nsfw=who.channel_nsfw, target=target or DeliveryTarget()
            )
            self.quotas.charge(ticket.job_id, who, request, lane)
        return Submitted(ticket.job_id, ticket.position, ticket.eta_seconds, lane=lane)

    def _admission(self, who: Requester) -> asyncio.Lock:
        """The member's admission lock (made on first use, gone when nobody holds it)."""
        key = (who.guild_id, who.user_id)
        lock = self._admissions.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._admissions[key] = lock
        return lock

    @staticmethod
    def _still_allowed(job: Job, settings: GuildSettings) -> None:
        if not settings.rules().allows(job.request.model):
            raise InvalidRequest("model", f"{job.request.model!r} is no longer allowed here")

    # ----------------------------------------------------------------- jobs and results
    async def job(self, job_id: str) -> JobRecord:
        """A stored job (``JobNotFound`` when it does not exist, e.g. expired)."""
        return await self._record(self.queue.get(job_id))

    async def _record(self, job: Job) -> JobRecord:
        images = await asyncio.to_thread(lambda: [Path(p).read_bytes() for p in job.image_paths])
        seconds = (
            job.finished_at - job.started_at
            if job.finished_at is not None and job.started_at is not None
            else None
        )
        return JobRecord(
            job_id=job.id,
            user_id=int(job.user_id),
            guild_id=int(job.guild_id),
            channel_id=int(job.channel_id),
            action=job.origin.action,
            request=job.request,
            status=job.status.value,
            images=[
                JobImage(png, seed, model_nsfw=nsfw)
                for png, seed, nsfw in zip(images, job.seeds, _padded(job), strict=False)
            ],
            seconds=seconds,
            error=job.error,
        )

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The job's events from its current state on; ends after Finished, Failed or Blocked."""
        step, total, place = 0, 0, -1
        async for event in self.queue.events(job_id):
            if event.kind == "queued":
                if event.position != place:  # ETA-only updates: not worth a message edit
                    place = event.position or 0
                    yield Queued(place, event.eta_seconds or 0.0)
            elif event.kind == "started":
                yield Progress(0, total)
            elif event.kind == "step":
                step, total = event.step or 0, event.total_steps or 0
                yield Progress(step, total)
            elif event.kind == "preview":
                yield Progress(step, total, event.preview)
            elif event.kind == "done":
                yield await self._outcome(self.queue.get(job_id))
            else:
                yield Failed(event.error or event.kind)

    async def _outcome(self, job: Job) -> Finished | Blocked:
        """A done job through the safety policy and, in approval channels, to the moderators."""
        if job.status is JobStatus.BLOCKED:
            return Blocked(job.error or "the images were withheld by the safety policy")
        settings = await asyncio.to_thread(self.guilds.get, int(job.guild_id))
        screened = await self._screen(await self._record(job), settings)
        if isinstance(screened, Blocked):
            return screened
        if screened.channel_id not in settings.approval_channels:
            return Finished(screened)
        target = settings.approval_target or settings.mod_log_channel
        if target is None:
            return Blocked(_NO_APPROVAL_CHANNEL)
        entry = await asyncio.to_thread(
            lambda: self.record.log(
                "hidden",
                guild_id=screened.guild_id,
                channel_id=screened.channel_id,
                user_id=screened.user_id,
                job_id=screened.job_id,
                reason="waiting for a moderator's approval (approval mode)",
            )
        )
        await asyncio.to_thread(self.deliveries.hold, screened.job_id, entry.id)
        self._notices.put_nowait(ApprovalNotice(target, screened, entry))
        return Blocked(_WAITING_FOR_APPROVAL)

    async def _screen(
        self, job: JobRecord, settings: GuildSettings, *, log_flagged: bool = True
    ) -> JobRecord | Blocked:
        """The images that may be posted in the job's channel, or why none may."""
        notes = await asyncio.to_thread(self.deliveries.notes, job.job_id)
        screened = await self.screener.screen(
            job,
            ChannelFlags(nsfw=notes.channel_nsfw),
            settings.safety_for(job.channel_id),
            log_flagged=log_flagged,
        )
        for entry in screened.logged:
            await self.moderation.tell(entry, settings)
        if screened.withheld is not None:
            self.queue.block(job.job_id, screened.withheld)
            return Blocked(f"The safety policy withheld these images. {screened.withheld}")
        return screened.job

    async def delete(self, job_id: str, who: Requester) -> Deleted:
        """Delete a result (its requester or a moderator) or raise NotAllowed: it leaves the
        history for good, and the front end deletes its message (``Deleted.place``)."""
        job = self.queue.get(job_id)
        if int(job.user_id) != who.user_id and not self.moderation.is_moderator(who):
            raise NotAllowed(
                "only the person who asked for this image or a moderator can delete it"
            )
        await asyncio.to_thread(self.gallery.index.mark, job_id, "deleted")
        return Deleted(job_id, await self.result_message(job_id))

    async def report(self, job_id: str, who: Requester, reason: str) -> Reported:
        """A member's report of a result; enough reports hide it until a moderator decides."""
        job = self.queue.get(job_id)
        outcome = await asyncio.to_thread(
            lambda: self.record.report(
                job_id,
                guild_id=who.guild_id,
                channel_id=who.channel_id,
                reporter_id=who.user_id,
                author_id=int(job.user_id),
                reason=reason,
            )
        )
        entries = [outcome.entry] if outcome.entry is not None else []
        if outcome.newly_hidden:  # the record does not return its "hidden" entry: find it
            await asyncio.to_thread(self.gallery.index.mark, job_id, "hidden")
            recent = await asyncio.to_thread(self.record.recent, who.guild_id, 10, ("hidden",))
            entries += [e for e in recent if e.job_id == job_id][:1]
        for entry in entries:
            await self.moderation.tell(entry)
        return Reported(outcome.accepted, outcome.newly_hidden)

    async def decide(
        self,
        who: Requester,
        decision: Decision,
        entry_id: int,
        job_id: str | None,
        user_id: int | None,
    ) -> Decided:
        """A moderator's button on a log entry: dismiss it, take the result down, or approve it
        (the result, checked again, is returned for the front end to post)."""
        await asyncio.to_thread(self.moderation.require_moderator, who, "do this")
        await self.moderation.close_entry(who, decision, entry_id, job_id, user_id)
        if decision == "dismiss" or job_id is None:
            return Decided(decision)
        if decision in ("remove", "reject"):
            await asyncio.to_thread(self.deliveries.release, job_id)
            await asyncio.to_thread(self.gallery.index.mark, job_id, "removed")
            return Decided(decision, take_down=await self.result_message(job_id))
        await asyncio.to_thread(self.deliveries.release, job_id)
        job = await self.job(job_id)
        settings = await asyncio.to_thread(self.guilds.get, job.guild_id)
        screened = await self._screen(job, settings, log_flagged=False)
        if isinstance(screened, Blocked):
            return Decided(decision, problem=screened.message)
        return Decided(decision, post=screened)

    # ----------------------------------------------------------------- delivery record
    async def delivered(
        self, job_id: str, *, channel_id: int | None = None, message_id: int | None = None
    ) -> bool:
        """Record the result's delivery and, when given, the message that shows it (so
        moderators can remove it later); True the first time only."""
        if channel_id is not None and message_id is not None:
            await asyncio.to_thread(self.deliveries.posted, job_id, channel_id, message_id)
            await asyncio.to_thread(self.gallery.delivered, job_id)
        return self.queue.mark_delivered(job_id)

    async def delivering(self, job_id: str, intent: Intent) -> None:
        """Before a result is posted: how, so that after a crash the front end looks for the
        post before posting again."""
        await asyncio.to_thread(self.deliveries.delivering, job_id, intent, time.time())

    async def delivery_notes(self, job_id: str) -> JobNotes:
        """What the record holds of a job's delivery (reply, intent, result message)."""
        return await asyncio.to_thread(self.deliveries.notes, job_id)

    async def undeliverable(self, job_id: str, problem: str) -> None:
        """The result could not be delivered (a deleted channel, a missing permission)."""
        log.warning("job %s could not be delivered: %s", job_id, problem)
        await asyncio.to_thread(self.deliveries.failed, job_id, problem)

    async def result_message(self, job_id: str) -> tuple[int, int] | None:
        """Where the result was posted, ``(channel id, message id)``; None when unknown."""
        return (await asyncio.to_thread(self.deliveries.notes, job_id)).result

    async def orphans(self) -> list[Orphan]:
        """Jobs no interaction follows any more (queued or finished before a restart)."""
        store = self.queue.store

        def read() -> list[Orphan]:
            jobs = store.by_status(*_PENDING) + store.undelivered()
            return [
                Orphan(
                    j.id,
                    int(j.user_id),
                    int(j.channel_id),
                    self.deliveries.notes(j.id).target,
                    ended=j.status.finished,
                )
                for j in jobs
                if not j.delivered
            ]

        return await asyncio.to_thread(read)

    # ----------------------------------------------------------------- what members look up
    async def choices(self, field: ChoiceField, who: Requester) -> list[str]:
        """Allowed values for an option (models: the ones the member's guild allows)."""
        if field == "aspect":
            return list(ASPECTS)
        if field == "control_mode":
            return control_mode_choices()
        if field == "scheduler":
            return list(SCHEDULER_NAMES)
        if field == "model":
            rules = (await asyncio.to_thread(self.guilds.get, who.guild_id)).rules()
            return [name for name in self.planner.catalog.names() if rules.allows(name)]
        if field == "lora":
            rules = (await asyncio.to_thread(self.guilds.get, who.guild_id)).rules()
            return [name for name in self.planner.catalog.lora_names() if rules.allows_lora(name)]
        return [preset.name for preset in await self.styles(who)]

    async def styles(self, who: Requester | None = None) -> list[Preset]:
        """The presets a member may choose: the shipped ones, the operator's, and their
        guild's own (none in a direct message)."""
        if who is None or not who.guild_id:
            return list(self.planner.library())
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        return list(self.planner.library(settings.rules()))

    def model_names(self) -> list[str]:
        return self.planner.catalog.names()

    async def queue_view(self, who: Requester) -> QueueView:
        """The member's jobs here with place and ETA, the queue here and in all, the workers."""
        mine = self.queue.user_jobs(str(who.user_id), guild_id=str(who.guild_id))
        return QueueView(
            [_pending(entry) for entry in mine],
            self.queue.waiting(str(who.guild_id)),
            self.queue.waiting(),
            self.queue.workers(),
        )

    async def my_pending(self, who: Requester) -> list[PendingJob]:
        """The member's queued and running jobs, oldest first (for /cancel, per keystroke)."""
        return [_pending(e) for e in self.queue.user_jobs(str(who.user_id), positions=False)]

    async def cancel(self, who: Requester, job: str | None) -> Cancelled:
        """Cancel the member's job named by (a prefix of) its id, or their latest."""
        mine = await self.my_pending(who)
        if job is None:
            if not mine:
                raise InvalidRequest("job", "you have no queued or running jobs")
            job = mine[-1].job_id
        wanted = job.strip()
        matches = [j.job_id for j in mine if j.job_id.startswith(wanted)] or [wanted]
        status = await self.queue.cancel(
            matches[0], user_id=str(who.user_id), is_moderator=self.moderation.is_moderator(who)
        )
        return Cancelled(matches[0], status.value)

    async def instance(self, who: Requester) -> InstanceView:
        """The models the member may use, the default one, the workers and the queue."""
        settings = await asyncio.to_thread(self.guilds.get, who.guild_id)
        models = await self.choices("model", who)
        default = settings.default_model or self.planner.engine.default_model
        allowance = None
        if who.guild_id:
            moderator = self.moderation.is_moderator(who, settings)
            allowance = await asyncio.to_thread(self.quotas.allowance, who, settings, moderator)
        return InstanceView(
            models, default, self.queue.workers(), self.queue.queue_length(), allowance
        )


def _written(request: GenerationRequest) -> str:
    """The prompt as the member wrote it (the compel text of a job stored before it was kept)."""
    return request.source_prompt if request.source_prompt is not None else request.prompt


def _pending(entry: MemberJob) -> PendingJob:
    ticket = entry.ticket
    return PendingJob(
        entry.job.id,
        _written(entry.job.request),
        entry.job.status.value,
        ticket.position if ticket else None,
        ticket.eta_seconds if ticket else None,
    )


def _padded(job: Job) -> list[bool | None]:
    """The model's verdict per image (None for images stored before it was kept)."""
    return [*job.model_nsfw, *[None] * (len(job.seeds) - len(job.model_nsfw))]
