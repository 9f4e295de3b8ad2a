"""From what the user asked for (a ``PromptSpec``) to what the model gets (a ``BuiltPrompt``).

Order of the positive prompt, always the same: the user's subject, medium, lighting,
composition and details (comma-separated) go into the style preset's ``{prompt}``; quality
modifiers follow the template. Nothing the user typed is dropped: text is only normalised.

Negative: the guild's default (or the model family's), the preset's extra terms, then the user's
negative, each distinct term once. ``use_default_negative=False`` leaves the default out.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from prompting.brackets import nesting_depth
from prompting.config import PromptingConfig
from prompting.dialect import Dialect, Syntax
from prompting.errors import PromptError
from prompting.families import FamilyReading, reading
from prompting.loras import LoraTag, extract_loras
from prompting.negatives import ModelFamily, compose_negative, default_negative
from prompting.normalize import check_length, normalise
from prompting.notices import PromptWarning, WarningCode, dedupe_warnings
from prompting.presets import Preset, PresetLibrary, load_library
from prompting.translate import Translation, translate
from prompting.wildcards import parse_wildcards

MAX_BATCH = 16
MAX_STEPS = 150
MAX_STYLE_CHARS = 100
MAX_NESTING = 4
"""Deepest bracket nesting of the compel text a prompt becomes (see ``_check_nesting``)."""


class PromptSpec(BaseModel):
    """What a user asked for, field by field (all plain text in either prompt dialect)."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(description="What to paint (required; may use weights and wildcards).")
    style: str | None = Field(default=None, description="A style preset's name.")
    medium: str = ""
    lighting: str = ""
    composition: str = Field(default="", description="Composition or camera.")
    details: str = ""
    quality: str = Field(default="", description="Quality modifiers, after the style template.")
    negative: str = ""
    use_default_negative: bool = True
    syntax: Syntax = "auto"


class PromptEditEntry(BaseModel):
    """From ``from_step`` (0-based) on, the positive prompt is ``prompt`` (compel syntax)."""

    from_step: int = Field(ge=0)
    prompt: str


class BuiltPrompt(BaseModel):
    """The prompts in compel syntax, ready for ``GenerationRequest``, and what was noticed."""

    positive: str = Field(description="Compel syntax, image 0, step 0.")
    negative: str = Field(description="Compel syntax.")
    positive_text: str = Field(description="The composed positive before translation.")
    negative_text: str = Field(description="The composed negative before translation.")
    subject: str
    per_image_positives: list[str] | None = Field(
        default=None, description="One compel prompt per image when wildcards differ."
    )
    per_image_texts: list[str] | None = None
    edits: list[PromptEditEntry] = Field(default_factory=list)
    steps: int
    dialect: Dialect
    preset: Preset | None = None
    warnings: list[PromptWarning] = Field(default_factory=list)
    loras: list[LoraTag] = Field(
        default_factory=list, description="The LoRAs named by <lora:name:weight> tags, in order."
    )

    _translations: list[Translation] = PrivateAttr(default_factory=list)

    @property
    def translation(self) -> Translation:
        """The parsed positive of image 0 (token counts and schedules come from it)."""
        return self._translations[0]

    def edits_for(self, steps: int) -> list[PromptEditEntry]:
        """The edit schedule for another step count (fractions in ``[a:b:0.5]`` scale with it)."""
        return _edits(self._translations[0].schedule(steps))

    def positive_for(self, steps: int) -> str:
        """Step 0's prompt for another step count (``[a:b:0.01]`` may switch before step 1)."""
        return self._translations[0].schedule(steps)[0][1]


def build(
    spec: PromptSpec | str,
    *,
    model_family: ModelFamily = "sd1",
    default_negative_prompt: str | None = None,
    presets: PresetLibrary | None = None,
    extra_presets: Iterable[Preset] | None = None,
    config: PromptingConfig | None = None,
    seed: int | None = None,
    count: int = 1,
    steps: int = 20,
) -> BuiltPrompt:
    """Compose, translate and check a prompt. Raises ``PromptError`` naming the field at fault.

    ``default_negative_prompt`` is the guild's default negative (``None``: the model family's).
    ``extra_presets`` (a guild's) are layered over ``presets`` for this call only. ``seed`` draws
    the wildcard variants (the same seed, the same variants; ``None`` draws a fresh seed).
    """
    config = config or PromptingConfig()
    if isinstance(spec, str):
        spec = PromptSpec(subject=spec)
    if not 1 <= count <= MAX_BATCH:
        raise PromptError("count", f"must be 1..{MAX_BATCH}, got {count}")
    if not 1 <= steps <= MAX_STEPS:
        raise PromptError("steps", f"must be 1..{MAX_STEPS}, got {steps}")
    warnings: list[PromptWarning] = []
    fields = {}
    for name in ("subject", "medium", "lighting", "composition", "details", "quality", "negative"):
        raw = getattr(spec, name)
        check_length(name, raw, config.max_prompt_chars)
        fields[name], found = normalise(raw)
        warnings.extend(found)

    if spec.style:
        check_length("style", spec.style, MAX_STYLE_CHARS)
    library = (presets or load_library(config.presets_file)).with_extra(extra_presets)
    preset = library.get(spec.style) if spec.style and spec.style.strip() else None

    body = ", ".join(
        fields[name]
        for name in ("subject", "medium", "lighting", "composition", "details")
        if fields[name]
    )
    styled = preset.apply(body) if preset and body else body
    positive_text = ", ".join(part for part in (styled, fields["quality"]) if part)
    positive_text, loras, found = extract_loras("subject", positive_text)
    warnings.extend(found)
    fields["negative"], negative_loras, _ = extract_loras("negative", fields["negative"])
    if negative_loras:
        warnings.append(
            PromptWarning(
                code=WarningCode.LORA_IN_NEGATIVE,
                message="LoRA tags work in the prompt only; those in the negative were removed",
            )
        )
    family = reading(model_family)
    if not positive_text:
        raise PromptError(
            "subject", "the prompt is empty; describe what to paint", code="empty_subject"
        )

    wildcards = parse_wildcards(positive_text)
    warnings.extend(wildcards.warnings)
    variants = wildcards.expand(seed if seed is not None else secrets.randbelow(2**32), count)
    translations = {
        text: _for_family(translate(text, spec.syntax), family, warnings)
        for text in dict.fromkeys(variants)
    }
    if len(translations) > 1 and any(t.has_schedule for t in translations.values()):
        raise PromptError(
            "subject",
            "wildcards that differ between images cannot be combined with prompt editing "
            "[a:b:when] or alternation [a|b]; use one of them, or generate one image",
            code="wildcards_with_schedule",
        )
    for translation in translations.values():
        warnings.extend(translation.warnings)
        warnings.extend(translation.clamp_warnings(steps))
    first = translations[variants[0]]
    schedule = first.schedule(steps)
    if not schedule[0][1].strip():
        raise PromptError("subject", "the prompt has no words left to paint", code="empty_subject")

    if not family.negatives and fields["negative"]:
        warnings.append(
            PromptWarning(
                code=WarningCode.NEGATIVE_IGNORED,
                message=f"{family.label} models take no negative prompt; "
                f"{fields['negative'][:80]!r} was left out",
            )
        )
    defaults = []
    if spec.use_default_negative:
        defaults.append(
            default_negative_prompt
            if default_negative_prompt is not None
            else default_negative(model_family)
        )
    negative_text = compose_negative(
        [*defaults, ", ".join(preset.negative) if preset else "", fields["negative"]]
    )
    if not family.negatives:
        negative_text = ""
    negative = (
        _for_family(translate(negative_text, spec.syntax), family, warnings)
        if negative_text
        else None
    )
    if negative is not None:
        warnings.extend(_about_negative(negative, steps))

    built = BuiltPrompt(
        positive=schedule[0][1],
        negative=negative.compel(0, steps) if negative else "",
        positive_text=variants[0],
        negative_text=negative_text,
        subject=fields["subject"],
        per_image_positives=(
            [translations[v].schedule(steps)[0][1] for v in variants]
            if len(translations) > 1
            else None
        ),
        per_image_texts=variants if len(translations) > 1 else None,
        edits=_edits(schedule),
        steps=steps,
        dialect=first.dialect,
        preset=preset,
        warnings=dedupe_warnings(warnings),
        loras=loras,
    )
    built._translations = [translations[v] for v in variants]
    _check_nesting(built)
    return built


def _for_family(
    translation: Translation, family: FamilyReading, warnings: list[PromptWarning]
) -> Translation:
    """The translation as the family reads it: one window when it has no BREAK/AND chunks."""
    if family.chunks or not translation.has_chunks:
        return translation
    warnings.append(
        PromptWarning(
            code=WarningCode.CHUNKS_IGNORED,
            message=f"BREAK and AND have no effect on {family.label} models (its text encoder "
            "reads the prompt as one sequence); the parts were joined",
        )
    )
    return translation.as_one_chunk()


def _check_nesting(built: BuiltPrompt) -> None:
    """Refuse compel text nested deeper than ``MAX_NESTING``: compel's parser takes time
    exponential in the depth (about 0.5 s at 6 levels, 5 s at 10, minutes at 14, measured on a
    2-core CPU), which would stall a worker; said now, before the job is queued."""
    texts = [("subject", built.positive), ("negative", built.negative)]
    texts += [("subject", text) for text in built.per_image_positives or []]
    texts += [("subject", edit.prompt) for edit in built.edits]
    for field, text in texts:
        depth = nesting_depth(text)
        if depth > MAX_NESTING:
            raise PromptError(
                field,
                f"brackets nest {depth} levels deep; at most {MAX_NESTING} are allowed "
                "(flatten them: ((cat)1.1)1.1 is (cat)1.21)",
                code="too_deep",
            )


def _edits(schedule: list[tuple[int, str]]) -> list[PromptEditEntry]:
    """The entries after step 0 of a ``Translation.schedule``."""
    return [PromptEditEntry(from_step=step, prompt=text) for step, text in schedule[1:]]


def _about_negative(negative: Translation, steps: int) -> list[PromptWarning]:
    found = [*negative.warnings, *negative.clamp_warnings(steps)]
    if negative.has_schedule:
        found.append(
            PromptWarning(
                code=WarningCode.NEGATIVE_SCHEDULE_IGNORED,
                message="prompt editing and alternation apply to the positive prompt only; "
                "the negative uses its first version throughout",
            )
        )
    return [
        warning.model_copy(update={"message": f"negative prompt: {warning.message}"})
        for warning in found
    ]
