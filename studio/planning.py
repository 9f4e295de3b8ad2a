"""The one way options become a request: ``Planner.plan``, used by ``/imagine`` and the CLI alike.

Defaults fill in this order: the member's own values (what they typed, else their preferences,
``/preferences``), the style preset they chose (its steps, cfg, scheduler and aspect), the
guild's defaults, the model's catalog entry (scheduler, native size, default negative), the
instance's settings. The preset sits above the guild's defaults because the member picked it:
it is the more specific wish; the member's own values, typed or kept as preferences, win. A
guild's own presets (``/settings preset-add``) join the shipped ones and the operator's file for
its members, winning by name. Wildcard picks follow the job's seed, so a seed drawn here
reproduces them. Every bad value is an ``InvalidRequest`` (or ``PromptError``) naming the option
as the user typed it.

Each family's rules are applied here, once, for /imagine and the CLI alike: FLUX.1 takes its
distilled ``guidance`` and no CFG scale or negative (a value given anyway is left out and the
member told); flow-matching models sample with Euler; sides are multiples of the family's step. A
few-step model's own steps and guidance (its entry has ``max_steps``) come right after what the
member typed: presets and guild defaults are set for full models. ``draft`` swaps the model for
the family's fast entry (``ModelSpec.draft_of``). LoRAs come from ``<lora:name:w>`` tags and the
``lora`` option, each checked against the catalog, the model's family and the guild's list.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from generation import sizes
from generation.catalog import Catalog, ModelSpec, unavailable
from generation.config import EngineConfig
from generation.errors import InvalidRequest
from generation.families import traits
from generation.requests import (
    MAX_GUIDANCE,
    MAX_IMAGES,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    SEED_MAX,
    AdapterUse,
    GenerationRequest,
    PromptEdit,
)
from generation.schedulers import resolve as resolve_scheduler
from generation.tiling import check_tile
from prompting import BuiltPrompt, LoraTag, Preset, PresetLibrary, PromptSpec, build, lint_built
from prompting.config import PromptingConfig
from prompting.errors import PromptError
from prompting.loras import parse_weight
from prompting.tokens import TokenizerLike
from studio.config import StudioOptions
from studio.guides import guide_fields
from studio.types import Count, ImagineOptions, ReferenceWeight, Steps

T = TypeVar("T")
NO_PRESET = Preset(name="none", positive="{prompt}")
"""No style chosen: nothing to fill in."""
TokenizerFor = Callable[[ModelSpec], TokenizerLike | None]
"""A model's own tokenizer for token counts, or None (then counts are estimates, marked)."""

# The option a user typed for each request field, and the range they may give it.
OPTION_NAMES = {"guidance": "cfg", "negative_prompt": "negative"}
ALLOWED = {
    "prompt": "a non-empty text of at most 20000 characters",
    "negative_prompt": "at most 20000 characters",
    "steps": f"1..{MAX_STEPS}",
    "guidance": f"a number in 0..{MAX_GUIDANCE:g}",
    "seed": f"0..{SEED_MAX}",
    "count": f"1..{MAX_IMAGES}",
    "width": f"{MIN_SIDE}..{MAX_SIDE} in steps of 8",
    "height": f"{MIN_SIDE}..{MAX_SIDE} in steps of 8",
}
# The prompt's fields as the user named them (the spec says "subject" for the prompt).
SPEC_FIELD_NAMES = {"subject": "prompt"}
MAX_NEGATIVE = 1500
"""A default negative's characters: a guild's (``/settings``) and a member's (``/preferences``)."""


class GuildRules(BaseModel):
    """A community's defaults for the options a member leaves out, and the models it allows
    (None or empty: the instance's own)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None
    steps: int | None = None
    cfg: float | None = None
    aspect: str | None = None
    negative: str | None = None
    allowed_models: tuple[str, ...] = ()
    """Empty: every model of the catalog."""
    presets: tuple[Preset, ...] = ()
    """The guild's own style presets, over the shipped ones and the operator's."""
    allowed_loras: tuple[str, ...] = ()
    """Empty: every LoRA of the catalog."""

    def allows(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models

    def allows_lora(self, lora: str) -> bool:
        return not self.allowed_loras or lora in self.allowed_loras


class Preferences(BaseModel):
    """A member's defaults for the options they leave out (None: the guild's, then the
    instance's). The ranges are /imagine's own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(default=None, max_length=100, description="A model's name.")
    style: str | None = Field(default=None, max_length=100, description="A style preset.")
    aspect: str | None = Field(default=None, description=f"One of {', '.join(sizes.ASPECTS)}.")
    count: Count | None = None
    steps: Steps | None = None
    negative: str | None = Field(default=None, max_length=MAX_NEGATIVE)
    draft: bool | None = Field(default=None, description="Paint fast few-step drafts (U repaints).")
    sref_weight: ReferenceWeight | None = None
    cref_weight: ReferenceWeight | None = None

    @field_validator("aspect")
    @classmethod
    def _aspect(cls, value: str | None) -> str | None:
        if value is not None and value not in sizes.ASPECTS:
            raise ValueError(f"use one of {', '.join(sizes.ASPECTS)}")
        return value

    def given(self) -> dict[str, Any]:
        """The preferences that are set."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


def conditioning_texts(built: BuiltPrompt, typed: str = "") -> list[str]:
    """Every text that conditions an image of a built prompt, for the safety check: the prompt
    as typed, the composed text and each wildcard variant, the compel texts, each prompt-editing
    and alternation segment (the check joins words split across them)."""
    texts = [typed, built.positive_text, *(built.per_image_texts or [])]
    texts += [built.positive, *(built.per_image_positives or [])]
    texts += [edit.prompt for edit in built.edits]
    return list(dict.fromkeys(text for text in texts if text))


def request_texts(request: GenerationRequest) -> list[str]:
    """Every text that conditions a stored request's images (each variant and edit), and the
    text the member wrote for them (A1111 syntax, kept for the PNG's ``parameters``)."""
    texts = [request.prompt, *(request.per_image_prompts or [])]
    texts += [edit.prompt for edit in request.prompt_edits]
    texts += [request.source_prompt or "", *(request.per_image_source_prompts or [])]
    return list(dict.fromkeys(text for text in texts if text))


@dataclass(frozen=True)
class Plan:
    """A request ready for the queue, the prompt it was built from, and what to tell the user."""

    request: GenerationRequest
    built: BuiltPrompt
    warnings: list[str]
    typed: str = ""
    """The prompt as the member typed it."""
    notes: list[str] = field(default_factory=list)
    """Planning's own remarks (a value left out, and why); also among ``warnings``."""

    @property
    def texts(self) -> list[str]:
        """Every text that conditions an image, for the safety check."""
        return conditioning_texts(self.built, self.typed)


def prompt_fields(built: BuiltPrompt) -> dict[str, Any]:
    """The ``GenerationRequest`` fields that carry a built prompt: the compel text the model
    gets (wildcards, edits), and the text the user wrote for the PNG's ``parameters``."""
    return {
        "prompt": built.positive,
        "negative_prompt": built.negative,
        "per_image_prompts": built.per_image_positives,
        "prompt_edits": [PromptEdit(from_step=e.from_step, prompt=e.prompt) for e in built.edits],
        "source_prompt": built.positive_text,
        "source_negative": built.negative_text,
        "per_image_source_prompts": built.per_image_texts,
    }


def first(*values: T | None) -> T:
    """The first value that is set: member, preset, guild, model, instance, in that order."""
    return next(value for value in values if value is not None)


def _given(typed: float | None, preferred: float | None) -> float | None:
    """What the member typed, else their preference (0 is a value: a weight that is off)."""
    return typed if typed is not None else preferred


def make_request(**fields: Any) -> GenerationRequest:
    """A request, or ``InvalidRequest`` naming the option the user typed and its allowed range."""
    try:
        return GenerationRequest(**fields)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "request"
        message = str(problem["msg"]).removeprefix("Value error, ")
        if field in ALLOWED and problem["type"] != "value_error":
            message = f"{message} (allowed: {ALLOWED[field]}; got {problem['input']!r})"
        raise InvalidRequest(OPTION_NAMES.get(field, field), message) from None


class Planner:
    """Options → ``Plan``, with the catalog, the presets and the instance's settings."""

    def __init__(
        self,
        catalog: Catalog,
        presets: PresetLibrary,
        *,
        engine: EngineConfig,
        prompting: PromptingConfig,
        options: StudioOptions | None = None,
        tokenizers: TokenizerFor | None = None,
    ) -> None:
        self.catalog = catalog
        self.presets = presets
        self.engine = engine
        self.prompting = prompting
        self.options = options or StudioOptions()
        self.tokenizers = tokenizers

    def plan(
        self,
        options: ImagineOptions,
        rules: GuildRules | None = None,
        *,
        local_models: bool = False,
        preferences: Preferences | None = None,
    ) -> Plan:
        """The request for ``options`` under a guild's ``rules`` and the member's own
        ``preferences``: each option from what they typed, else their preferences, else the
        preset they chose (typed or preferred), the guild's defaults, the model's, the
        instance's.

        ``local_models``: a model may also be the path of a folder or checkpoint on this host
        (the CLI's operator owns the host; members in Discord never may).
        """
        rules = rules or GuildRules()
        typed = options
        options, notes = self._with_preferences(options, preferences, rules)
        library = self.library(rules)
        preset = self.preset(library, options.style)
        model = self._allowed_model(options.model, rules)
        spec = self._model(model or self.engine.default_model, local_models)
        if options.draft:
            spec = self.draft_for(spec, rules)
        if options.tile:
            check_tile(spec.family)
        preferred = options.steps if typed.steps is None else None
        steps = self._steps(typed, rules, spec, preset, preferred)
        count = options.count or self.options.default_count
        # Drawn here, not by the engine, so the wildcard picks follow the job's seed too.
        seed = options.seed if options.seed is not None else random.randint(0, SEED_MAX)
        built = self.build_prompt(
            PromptSpec(
                subject=options.prompt,
                style=preset.name if options.style else None,
                medium=options.medium or "",
                lighting=options.lighting or "",
                composition=options.composition or "",
                details=options.details or "",
                negative=options.negative or "",
                use_default_negative=options.default_negative,
            ),
            spec,
            guild_negative=rules.negative,
            seed=seed,
            count=count,
            steps=steps,
            library=library,
        )
        aspect = first(options.aspect, preset.aspect, rules.aspect, "1:1")
        width, height = options.size or self.size(spec, aspect)
        picture = options.image or options.control  # a ControlNet picture sets the shape too
        if picture is not None and options.size is None and typed.aspect is None:
            # The picture's own shape, snapped to the family's sizes (an aspect typed wins).
            width, height = self.scaled(spec, sizes.ratio_size(spec.family, picture.ratio))
        request = make_request(
            **prompt_fields(built),
            model=spec.name,
            width=width,
            height=height,
            steps=steps,
            guidance=self._guidance(options, rules, spec, preset, notes),
            seed=seed,
            count=count,
            scheduler=self._scheduler(options.scheduler, spec, preset),
            loras=self._loras(built.loras, options.lora, spec, rules),
            tile=options.tile,
            **self._image_fields(options),
            **guide_fields(
                self.catalog,
                spec,
                sref=options.sref,
                cref=options.cref,
                control=options.control,
                control_mode=options.control_mode,
                sref_weight=options.sref_weight,
                cref_weight=options.cref_weight,
            ),
        )
        if request.mode == "img2img":
            request = self._img2img_steps(request, spec, notes)
        warnings = [*notes, *self.warnings(built, spec)]
        return Plan(request, built, warnings, options.prompt, notes)

    def warnings(self, built: BuiltPrompt, spec: ModelSpec) -> list[str]:
        """What to tell the user of a built prompt; tokens counted with the model's own
        tokenizer where this host has its files (else estimated, and the message says so)."""
        tokenizer = self.tokenizers(spec) if self.tokenizers is not None else None
        return [warning.message for warning in lint_built(built, tokenizer)]

    def library(self, rules: GuildRules | None = None) -> PresetLibrary:
        """The presets a guild's members choose from: the shipped ones, the operator's file's,
        then the guild's own (each wins over the ones before by name)."""
        return self.presets.with_extra(rules.presets if rules else None)

    @staticmethod
    def preset(library: PresetLibrary, style: str | None) -> Preset:
        """The chosen preset, its settings checked (an empty preset when none was chosen)."""
        if not style or not style.strip():
            return NO_PRESET
        preset = library.get(style)  # a PromptError on ``style`` with the closest names
        check_preset_settings(preset, field="style")
        return preset

    def draft_for(self, spec: ModelSpec, rules: GuildRules) -> ModelSpec:
        """The fast entry for ``spec``: itself when it is one, else the draft made for it,
        else the first draft of its family that the guild allows."""
        if spec.draft_of is not None:
            return spec
        drafts = [d for d in self.catalog.drafts() if rules.allows(d.name)]
        for draft in [d for d in drafts if d.draft_of == spec.name] + drafts:
            if draft.family == spec.family:
                return draft
        raise InvalidRequest(
            "draft",
            f"there is no fast draft model for {spec.name} ({traits(spec.family).label}) here; "
            "paint without draft",
        )

    def full_model(self, request: GenerationRequest) -> ModelSpec | None:
        """The full model a draft job was painted for (None: not a draft)."""
        spec = self.catalog.resolve(request.model) if request.model in self.catalog else None
        return self.catalog.resolve(spec.draft_of) if spec and spec.draft_of else None

    def defaults(self, spec: ModelSpec, rules: GuildRules) -> tuple[int, float, str]:
        """(steps, guidance, scheduler) a job on ``spec`` gets when the member gives none."""
        blank = ImagineOptions(prompt="-")
        return (
            self._steps(blank, rules, spec, NO_PRESET),
            self._guidance(blank, rules, spec, NO_PRESET, []),
            self._scheduler(None, spec, NO_PRESET),
        )

    def _steps(
        self,
        typed: ImagineOptions,
        rules: GuildRules,
        spec: ModelSpec,
        preset: Preset,
        preferred: int | None = None,
    ) -> int:
        few = spec.max_steps is not None
        steps = first(
            typed.steps,
            spec.steps if few else None,
            preferred,
            preset.steps,
            rules.steps,
            spec.steps,
            self.engine.default_steps,
        )
        if spec.max_steps is not None and steps > spec.max_steps:
            if typed.steps is not None:
                raise InvalidRequest(
                    "steps", f"{spec.name} runs 1..{spec.max_steps} steps; got {steps}"
                )
            steps = spec.max_steps
        return steps

    def _guidance(
        self,
        typed: ImagineOptions,
        rules: GuildRules,
        spec: ModelSpec,
        preset: Preset,
        notes: list[str],
    ) -> float:
        """The request's ``guidance``: FLUX.1's distilled guidance, else the CFG scale."""
        family = traits(spec.family)
        if family.guidance == "distilled":
            if typed.cfg is not None:
                notes.append(
                    f"{family.label} models have no CFG scale: cfg was left out "
                    "(FLUX.1-dev has its own `guidance`)"
                )
            if typed.guidance is not None and spec.guidance == 0.0:
                notes.append(f"{spec.name} has no guidance input: guidance was left out")
                return 0.0
            if typed.guidance is not None:
                return typed.guidance
            return spec.guidance if spec.guidance is not None else 3.5
        if typed.guidance is not None:
            notes.append(
                f"`guidance` is FLUX.1-dev's setting; {family.label} models use cfg "
                "(the CFG scale), so it was left out"
            )
        few = spec.guidance if spec.max_steps is not None else None  # before presets and guilds
        return first(
            typed.cfg, few, preset.cfg, rules.cfg, spec.guidance, self.engine.default_guidance
        )

    def _scheduler(self, typed: str | None, spec: ModelSpec, preset: Preset) -> str:
        allowed = traits(spec.family).schedulers
        few = spec.scheduler if spec.max_steps is not None else None
        name = resolve_scheduler(
            first(typed, few, preset.scheduler, spec.scheduler, self.engine.default_scheduler)
        ).name
        if allowed is None or name in allowed:
            return name
        if typed is None:
            return allowed[0]  # a preset's or the instance's default is for UNet models
        raise InvalidRequest(
            "scheduler",
            f"{traits(spec.family).label} models sample with {' or '.join(allowed)} only "
            f"(flow matching); got {name}",
        )

    def _loras(
        self, tags: list[LoraTag], option: str | None, spec: ModelSpec, rules: GuildRules
    ) -> list[AdapterUse]:
        """The prompt's LoRA tags and the ``lora`` option (it wins for the same name)."""
        asked: list[tuple[str, float | None, str]] = [(t.name, t.weight, "prompt") for t in tags]
        if option and option.strip():
            named, _, text = option.strip().partition(":")
            asked.append((named.strip(), parse_weight("lora", named, text or None), "lora"))
        chosen: dict[str, float] = {}
        for name, weight, option in asked:
            try:
                lora = self.catalog.lora(name, spec.family)
            except InvalidRequest as exc:
                raise InvalidRequest(option, exc.message) from None
            if not rules.allows_lora(name):
                allowed = ", ".join(rules.allowed_loras)
                raise InvalidRequest(
                    option, f"LoRA {name!r} is not allowed here; use one of: {allowed}"
                )
            chosen[name] = lora.weight if weight is None else weight
        return [AdapterUse(name=name, weight=weight) for name, weight in chosen.items()]

    def build_prompt(
        self,
        prompt: PromptSpec,
        spec: ModelSpec,
        *,
        guild_negative: str | None = None,
        seed: int | None = None,
        count: int = 1,
        steps: int = 20,
        library: PresetLibrary | None = None,
    ) -> BuiltPrompt:
        """prompting's ``build`` for a model: the guild's default negative replaces the model's
        (then the preset's extras and the member's own follow, each term once)."""
        try:
            return build(
                prompt,
                model_family=spec.family,
                default_negative_prompt=guild_negative or spec.default_negative or None,
                presets=library or self.presets,
                config=self.prompting,
                seed=seed,
                count=count,
                steps=steps,
            )
        except PromptError as exc:  # name the option the user typed, not the spec's field
            field = SPEC_FIELD_NAMES.get(exc.field, exc.field)
            raise PromptError(field, exc.message, exc.code) from None

    def _image_fields(self, options: ImagineOptions) -> dict[str, Any]:
        """img2img from the member's picture: its PNG (the queue stores it once by hash) at
        their strength, else the instance's."""
        if options.image is None:
            if options.strength is not None:
                raise InvalidRequest("strength", "needs an image to start from; attach one")
            return {}
        return {
            "mode": "img2img",
            "init_image": options.image.png,
            "init_image_sha256": options.image.sha256,
            "strength": first(options.strength, self.options.image_strength),
        }

    @staticmethod
    def _img2img_steps(
        request: GenerationRequest, spec: ModelSpec, notes: list[str]
    ) -> GenerationRequest:
        """img2img runs ``steps × strength`` steps: at least one, with a note when the steps
        are raised for it, or ``InvalidRequest`` on ``strength`` when the model's own step
        limit (a few-step model) does not allow as many."""
        least = math.ceil(1 / request.strength)
        if int(request.steps * request.strength) >= 1:
            return request
        most = spec.max_steps
        if most is not None and least > most:
            raise InvalidRequest(
                "strength",
                f"{spec.name} paints at most {most} steps, so strength {request.strength:g} "
                f"would paint none; use a strength of at least {1 / most:.2g}",
            )
        notes.append(f"{least} steps, so that strength {request.strength:g} paints at least one")
        return request.model_copy(update={"steps": least})

    def size(self, spec: ModelSpec, aspect: str) -> tuple[int, int]:
        """The aspect at the model's native pixel count (or the configured square side's)."""
        return self.scaled(spec, sizes.aspect_size(spec.family, aspect))

    def scaled(self, spec: ModelSpec, size: tuple[int, int]) -> tuple[int, int]:
        """A size at the family's native pixel count scaled to the configured square side."""
        width, height = size
        native = sizes.native_size(spec.family)[0]
        side = self.options.image_side or spec.native_size[0]
        scale = side / native
        step = sizes.bounds(spec.family).step
        return (
            max(64, round(width * scale / step) * step),
            max(64, round(height * scale / step) * step),
        )

    def model(self, name: str) -> ModelSpec:
        """A catalog entry by name (never a path: members must not load files of the host)."""
        return self._model(name, local=False)

    def _model(self, name: str, local: bool) -> ModelSpec:
        allowed = ", ".join(self.catalog.names())
        if name not in self.catalog.names() and not local:  # inpainting entries: edits only
            raise InvalidRequest("model", f"unknown model {name!r}; choose one of: {allowed}")
        spec = self.catalog.resolve(name)
        problem = unavailable(spec) if self.options.models_here else None
        if problem is not None:  # said now, not as a failed job after its turn in the queue
            raise InvalidRequest("model", f"{name!r} cannot be used: {problem}")
        return spec

    def _with_preferences(
        self, options: ImagineOptions, preferences: Preferences | None, rules: GuildRules
    ) -> tuple[ImagineOptions, list[str]]:
        """The member's own defaults for the options they left out, within the guild's rules
        (a preferred model or style that no longer exists, or that the guild does not allow, is
        skipped with a note)."""
        if preferences is None or not preferences.given():
            return options, []
        notes: list[str] = []
        model = preferences.model
        if model is not None and (model not in self.catalog or not rules.allows(model)):
            if options.model is None:
                notes.append(f"your preferred model {model!r} is not available here: not used")
            model = None
        style = preferences.style
        if style is not None and style not in self.library(rules):
            if options.style is None:
                notes.append(f"your preferred style {style!r} no longer exists: not used")
            style = None
        filled = options.model_copy(
            update={
                "model": options.model or model,
                "style": options.style or style,
                "aspect": options.aspect or preferences.aspect,
                "count": options.count or preferences.count,
                "steps": options.steps or preferences.steps,
                "negative": options.negative if options.negative else preferences.negative,
                "draft": options.draft if options.draft is not None else preferences.draft,
                "sref_weight": _given(options.sref_weight, preferences.sref_weight),
                "cref_weight": _given(options.cref_weight, preferences.cref_weight),
            }
        )
        return filled, notes

    @staticmethod
    def _allowed_model(model: str | None, rules: GuildRules) -> str | None:
        """The member's model, else the guild's default, else (a guild allowing only some)
        its first allowed one; only the models the guild allows."""
        chosen = model or rules.model
        if chosen is not None and not rules.allows(chosen):
            allowed = ", ".join(rules.allowed_models)
            raise InvalidRequest("model", f"{chosen!r} is not allowed here; use one of: {allowed}")
        if chosen is None and rules.allowed_models:
            return rules.allowed_models[0]
        return chosen


def check_preset_settings(preset: Preset, *, field: str) -> None:
    """A preset's scheduler and aspect, which prompting cannot check (they are generation's),
    named on ``field`` with the preset's name."""
    if preset.scheduler is not None:
        try:
            resolve_scheduler(preset.scheduler)
        except InvalidRequest as exc:
            raise InvalidRequest(field, f"preset {preset.name!r}: {exc.message}") from None
    if preset.aspect is not None and preset.aspect not in sizes.ASPECTS:
        raise InvalidRequest(
            field,
            f"preset {preset.name!r}: aspect {preset.aspect!r} is not one of "
            f"{', '.join(sizes.ASPECTS)}",
        )
