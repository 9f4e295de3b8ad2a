"""The studio: what a front end asks for, turned into queued jobs, and their events back.

It owns the rules between "a user asked" and "the queue runs a request": the model catalog,
sizes and aspects, defaults, prompting's build and lint, the ban and prompt checks, the requests
derived from a stored job (reroll, variations, upscale, remix), the image checks and their
policy, reports, and delivery bookkeeping. Front ends (``bot/``) only translate their events into
these calls and the results into messages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from generation import sizes
from generation.catalog import Catalog, ModelSpec
from generation.config import EngineConfig
from generation.errors import InvalidRequest
from generation.queue import Job, JobStatus, NotAllowed, Origin, QueueService
from generation.requests import SEED_MAX, GenerationRequest, PromptEdit
from generation.schedulers import SCHEDULER_NAMES
from generation.schedulers import resolve as resolve_scheduler
from generation.studio_types import (
    Blocked,
    ChoiceField,
    Derivation,
    Failed,
    Finished,
    GuildRules,
    ImagineOptions,
    JobEvent,
    JobImage,
    JobRecord,
    Orphan,
    Progress,
    PromptBlocked,
    Queued,
    Reported,
    Requester,
    Submitted,
)
from prompting import BuiltPrompt, PromptSpec, build, lint_built, load_library
from prompting.config import PromptingConfig
from safety import (
    ChannelFlags,
    GuildSafety,
    ImageChecker,
    ModerationRecord,
    PromptFilter,
    blur_image,
    decide,
)
from safety.config import SafetyConfig

log = logging.getLogger(__name__)

VARIATION_STRENGTH: dict[str, float] = {"vary_subtle": 0.2, "vary_strong": 0.6}


def denoising_steps(steps: int, strength: float) -> int:
    """Steps for an img2img pass that runs at least one: diffusers runs int(steps × strength)
    of them, none for a 2-step image upscaled at strength 0.35, which the engine refuses."""
    return max(steps, math.ceil(1 / strength))


def prompt_fields(built: BuiltPrompt) -> dict[str, Any]:
    """The ``GenerationRequest`` fields that carry a built prompt (compel text, wildcards, edits).

    The one mapping from prompting's result to the engine's request, for the bot and the CLI.
    """
    return {
        "prompt": built.positive,
        "negative_prompt": built.negative,
        "per_image_prompts": built.per_image_positives,
        "prompt_edits": [PromptEdit(from_step=e.from_step, prompt=e.prompt) for e in built.edits],
    }


class StudioOptions(BaseModel):
    """The front end's choices the studio applies (the bot takes them from its own section)."""

    model_config = ConfigDict(extra="forbid")

    image_side: int | None = Field(
        default=None,
        ge=64,
        le=2048,
        multiple_of=8,
        description="Side of a 1:1 image (None: the model's native size); other aspects keep "
        "its pixel count.",
    )
    default_count: int = Field(default=4, ge=1, le=4, description="Images per request.")


class Studio:
    """The ``ImagineService`` on one ``QueueService`` (in-process runner or Redis workers)."""

    def __init__(
        self,
        queue: QueueService,
        record: ModerationRecord,
        *,
        engine: EngineConfig,
        prompting: PromptingConfig,
        safety: SafetyConfig,
        options: StudioOptions | None = None,
        image_checker: ImageChecker | None = None,
    ) -> None:
        self.queue = queue
        self.record = record
        self.engine_config = engine
        self.prompting_config = prompting
        self.safety_config = safety
        self.options = options or StudioOptions()
        self.image_checker = image_checker or ImageChecker(safety)
        # The safety values for requests that bring none (``Requester.safety`` None, or a job
        # from before a restart): withhold flagged images, no NSFW anywhere.
        self.guild_safety = GuildSafety()
        # Where each job was asked for (age-restricted or not) and with which guild safety
        # values, until its last event; unknown after a restart: SFW, ``guild_safety``.
        self._asked: dict[str, tuple[ChannelFlags, GuildSafety | None]] = {}
        self.catalog = Catalog.load(engine.models_file)
        self.presets = load_library(prompting.presets_file)
        self.prompt_filter = PromptFilter(safety)
        self.delivery_problems: dict[str, str] = {}

    def warm_up(self) -> None:
        """Build the prompt parser and the term index now (about a second, blocking), so the
        first /imagine does not stall the event loop while other interactions wait."""
        self._request(ImagineOptions(prompt="a (warm:1.1) [up|start]", count=1))
        self.prompt_filter.check("a warm up")

    # ----------------------------------------------------------------- requests
    def _request(self, options: ImagineOptions) -> tuple[GenerationRequest, BuiltPrompt]:
        engine = self.engine_config
        model = options.model or engine.default_model
        if model not in self.catalog:  # never a path: users must not load files of the host
            allowed = ", ".join(self.catalog.names())
            raise InvalidRequest("model", f"unknown model {model!r}; choose one of: {allowed}")
        spec = self.catalog.resolve(model)
        scheduler = options.scheduler or spec.scheduler or engine.default_scheduler
        width, height = self._size(spec, options.aspect or "1:1")
        count = options.count or self.options.default_count
        steps = options.steps or engine.default_steps
        # Drawn here, not by the engine, so the wildcard picks follow the job's seed too.
        seed = options.seed if options.seed is not None else random.randint(0, SEED_MAX)
        built = build(
            PromptSpec(
                subject=options.prompt,
                style=options.style,
                medium=options.medium or "",
                lighting=options.lighting or "",
                composition=options.composition or "",
                negative=options.negative or "",
            ),
            model_family=spec.family,
            default_negative_prompt=spec.default_negative or None,
            presets=self.presets,
            config=self.prompting_config,
            seed=seed,
            count=count,
            steps=steps,
        )
        request = GenerationRequest(
            **prompt_fields(built),
            model=model,
            width=width,
            height=height,
            steps=steps,
            guidance=options.cfg if options.cfg is not None else engine.default_guidance,
            seed=seed,
            count=count,
            scheduler=resolve_scheduler(scheduler).name,
        )
        return request, built

    async def check_prompt(self, text: str, who: Requester) -> None:
        """Raise ``NotAllowed`` for a banned user and ``PromptBlocked`` (recorded for the
        moderators) for a prompt the channel's policy refuses."""
        ban = await asyncio.to_thread(self.record.active_ban, who.guild_id, who.user_id)
        if ban is not None:
            until = f" until {ban.expires_at:%Y-%m-%d %H:%M} UTC" if ban.expires_at else ""
            raise NotAllowed(f"you are banned from painting here{until}: {ban.reason}")
        verdict = await self.prompt_filter.check_async(
            text, channel=ChannelFlags(nsfw=who.channel_nsfw), guild=who.safety
        )
        if not verdict.allowed:
            entry = await asyncio.to_thread(
                lambda: self.record.record_blocked_prompt(
                    verdict,
                    guild_id=who.guild_id,
                    channel_id=who.channel_id,
                    user_id=who.user_id,
                    prompt=text,
                )
            )
            raise PromptBlocked(verdict.reason, entry)

    def _size(self, spec: ModelSpec, aspect: str) -> tuple[int, int]:
        """The aspect at the model's native pixel count (or the configured square side's)."""
        width, height = sizes.aspect_size(spec.family, aspect)
        native = sizes.native_size(spec.family)[0]
        side = self.options.image_side or spec.native_size[0]
        scale = side / native
        return max(64, round(width * scale / 8) * 8), max(64, round(height * scale / 8) * 8)

    async def _submit(
        self, request: GenerationRequest, who: Requester, origin: Origin
    ) -> Submitted:
        ticket = await self.queue.submit(
            guild_id=str(who.guild_id),
            channel_id=str(who.channel_id),
            user_id=str(who.user_id),
            request=request,
            priority="moderator" if who.is_moderator else "default",
            origin=origin,
            limits=who.limits,
        )
        self._asked[ticket.job_id] = (ChannelFlags(nsfw=who.channel_nsfw), who.safety)
        return Submitted(ticket.job_id, ticket.position, ticket.eta_seconds)

    def _with_rules(self, options: ImagineOptions, rules: GuildRules | None) -> ImagineOptions:
        """The guild's defaults for the options left out; only the models it allows."""
        if rules is None:
            return options
        filled = options.model_copy(
            update={
                "model": options.model or rules.model,
                "steps": options.steps or rules.steps,
                "cfg": options.cfg if options.cfg is not None else rules.cfg,
                "aspect": options.aspect or rules.aspect,
                "negative": options.negative if options.negative is not None else rules.negative,
            }
        )
        if filled.model is not None and not rules.allows(filled.model):
            allowed = ", ".join(rules.allowed_models)
            raise InvalidRequest(
                "model", f"{filled.model!r} is not allowed here; use one of: {allowed}"
            )
        if filled.model is None and rules.allowed_models:
            filled = filled.model_copy(update={"model": rules.allowed_models[0]})
        return filled

    @staticmethod
    def _still_allowed(job: Job, who: Requester) -> None:
        if who.rules is not None and not who.rules.allows(job.request.model):
            raise InvalidRequest("model", f"{job.request.model!r} is no longer allowed here")

    async def submit(self, options: ImagineOptions, who: Requester) -> Submitted:
        request, built = self._request(self._with_rules(options, who.rules))
        await self.check_prompt(built.positive_text, who)
        submitted = await self._submit(request, who, Origin())
        warnings = [w.message for w in lint_built(built)]
        return Submitted(submitted.job_id, submitted.position, submitted.eta_seconds, warnings)

    async def derive(
        self, job_id: str, action: Derivation, index: int | None, who: Requester
    ) -> Submitted:
        job = self.queue.get(job_id)
        self._still_allowed(job, who)
        # A derived job reuses a stored prompt, but a ban, or a term added since, stops it too.
        await self.check_prompt(job.request.prompt, who)
        base = job.request.model_copy(update={"subseed": None, "subseed_strength": 0.0})
        origin = Origin(kind="button", action=action, parent_job_id=job_id)
        if action == "reroll":
            request = base.model_copy(update={"seed": None})
        else:
            position = index or 0
            if not job.seeds or position >= len(job.seeds):
                raise InvalidRequest("index", f"this job has no image {position + 1}")
            update: dict[str, object] = {"count": 1, "seed": job.seeds[position]}
            if action == "upscale":
                png = await asyncio.to_thread(Path(job.image_paths[position]).read_bytes)
                update |= {"mode": "upscale", "init_image": png}
            else:
                update |= {
                    "subseed": random.randint(0, SEED_MAX),
                    "subseed_strength": VARIATION_STRENGTH[action],
                }
            request = base.model_copy(update=update)
        if request.mode != "txt2img":  # an upscale, or a job derived from one
            request = request.model_copy(
                update={"steps": denoising_steps(request.steps, request.strength)}
            )
        return await self._submit(
            GenerationRequest.model_validate(request.model_dump()), who, origin
        )

    async def remix(self, job_id: str, prompt: str, who: Requester) -> Submitted:
        job = self.queue.get(job_id)
        self._still_allowed(job, who)
        # The edited text is the whole positive prompt: no preset and no default negative again.
        built = build(
            PromptSpec(subject=prompt, use_default_negative=False),
            model_family=self.catalog.resolve(job.request.model).family,
            presets=self.presets,
            config=self.prompting_config,
            count=job.request.count,
            steps=job.request.steps,
        )
        await self.check_prompt(built.positive_text, who)
        update = {**prompt_fields(built), "seed": None}
        del update["negative_prompt"]  # the remix edits the positive prompt only
        request = job.request.model_copy(update=update)
        origin = Origin(kind="button", action="remix", parent_job_id=job_id)
        return await self._submit(
            GenerationRequest.model_validate(request.model_dump()), who, origin
        )

    # ----------------------------------------------------------------- jobs
    async def job(self, job_id: str) -> JobRecord:
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
            images=[JobImage(png, seed) for png, seed in zip(images, job.seeds, strict=False)],
            seconds=seconds,
            error=job.error,
        )

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
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
                job = self.queue.get(job_id)
                if job.status is JobStatus.BLOCKED:
                    yield Blocked(job.error or "the images were withheld by the safety policy")
                else:
                    yield await self.screen(await self._record(job))
            else:
                self._asked.pop(job_id, None)  # no images to screen
                yield Failed(event.error or event.kind)

    async def screen(self, job: JobRecord) -> Finished | Blocked:
        """The safety policy on each image: post, blur behind a spoiler, or withhold. Flagged
        images go to the moderation record; a job with nothing left to post is blocked."""
        channel, safety = self._asked.pop(job.job_id, (ChannelFlags(), None))
        guild = self.guild_safety if safety is None else safety
        prompt = await self.prompt_filter.check_async(
            job.request.prompt, channel=channel, guild=guild
        )
        verdicts = await self.image_checker.check_batch_async([i.png for i in job.images])
        decision = decide(prompt, verdicts, channel, guild)
        logged = []
        for verdict, choice in zip(verdicts, decision.images, strict=True):
            if choice.log and not verdict.safe:  # flagged or uncheckable: for the moderators
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
                fraction = self.safety_config.blur_radius_fraction
                blurred = await asyncio.to_thread(blur_image, image.png, fraction)
                kept.append(JobImage(blurred, image.seed, spoiler=True))
        if not kept:
            reason = next((d.reason for d in decision.images if d.reason), "withheld")
            self.queue.block(job.job_id, reason)
            return Blocked(f"The safety policy withheld these images. {reason}", tuple(logged))
        return Finished(dataclasses.replace(job, images=kept), tuple(logged))

    async def delete(self, job_id: str, who: Requester) -> None:
        job = self.queue.get(job_id)
        if int(job.user_id) != who.user_id and not who.is_moderator:
            raise NotAllowed(
                "only the person who asked for this image or a moderator can delete it"
            )

    async def report(self, job_id: str, who: Requester, reason: str) -> Reported:
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
            recent = await asyncio.to_thread(self.record.recent, who.guild_id, 10, ("hidden",))
            entries += [e for e in recent if e.job_id == job_id][:1]
        return Reported(outcome.accepted, outcome.newly_hidden, tuple(entries))

    async def delivered(
        self,
        job_id: str,
        problem: str | None = None,
        *,
        channel_id: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        if problem is not None:
            self.delivery_problems[job_id] = problem
            log.warning("job %s could not be delivered: %s", job_id, problem)
            return False
        if channel_id is not None and message_id is not None:
            ref = self.queue.get(job_id).discord.model_copy(
                update={"channel_id": str(channel_id), "message_id": str(message_id)}
            )
            await asyncio.to_thread(self.queue.store.set_discord, job_id, ref)
        return self.queue.mark_delivered(job_id)

    async def result_message(self, job_id: str) -> tuple[int, int] | None:
        job = await asyncio.to_thread(self.queue.store.get, job_id)
        if job is None or job.discord.channel_id is None or job.discord.message_id is None:
            return None
        return int(job.discord.channel_id), int(job.discord.message_id)

    async def orphans(self) -> list[Orphan]:
        store = self.queue.store
        jobs = await asyncio.to_thread(
            lambda: store.by_status(JobStatus.QUEUED, JobStatus.RUNNING) + store.undelivered()
        )
        return [Orphan(j.id, int(j.user_id), int(j.channel_id)) for j in jobs if not j.delivered]

    async def choices(self, field: ChoiceField, who: Requester) -> list[str]:
        if field == "aspect":
            return list(sizes.ASPECTS)
        if field == "scheduler":
            return list(SCHEDULER_NAMES)
        if field == "model":
            rules = who.rules or GuildRules()
            return [name for name in self.catalog.names() if rules.allows(name)]
        return self.presets.names()

    def prompt_of(self, job: JobRecord) -> str:
        return job.request.prompt
