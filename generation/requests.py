"""Requests and results of the engine: pydantic models that serialise to JSON.

The same objects cross Redis to remote GPU workers, so images travel as base64 in JSON and
every field has a documented range that the model itself enforces.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prompting.loras import MAX_LORA_WEIGHT, MIN_LORA_WEIGHT

SEED_MAX = 2**32 - 1
"""Seeds are unsigned 32-bit integers, as in A1111 and ComfyUI, so settings carry over."""

MAX_SIDE = 2048
MIN_SIDE = 64
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_IMAGES = 4
MAX_LORAS = 8

Mode = Literal["txt2img", "img2img", "upscale", "inpaint"]

# Style and character references (IP-Adapter) and ControlNet guides; see ``generation.guides``.
ReferenceKind = Literal["style", "character"]
ControlMode = Literal["canny", "lineart"]
MAX_REFERENCE_WEIGHT = 2.0
MAX_CONTROL_SCALE = 2.0
DEFAULT_REFERENCE_WEIGHTS: dict[str, float] = {"style": 1.0, "character": 0.6}
"""IP-Adapter scales: a style reference on InstantStyle's style block at full weight, a
character reference on every block at 0.6 (higher copies the picture rather than the face)."""
DEFAULT_CONTROL_SCALE = 1.0


def new_request_id() -> str:
    return uuid.uuid4().hex


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        ser_json_bytes="base64",
        val_json_bytes="base64",
        ser_json_inf_nan="strings",
    )


class PromptEdit(_Model):
    """From ``from_step`` on (0-based), the positive prompt becomes ``prompt``.

    Prompt editing ``[a:b:when]`` and alternation ``[a|b]`` of A1111 both become a list of edits.
    """

    from_step: Annotated[int, Field(ge=0, le=MAX_STEPS)]
    prompt: str


class AdapterUse(_Model):
    """A LoRA by catalog name and the weight it is applied with for one request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    weight: Annotated[float, Field(ge=MIN_LORA_WEIGHT, le=MAX_LORA_WEIGHT)] = 1.0

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        """``"name"`` or ``"name:0.8"`` (a catalog's short form) as a name and weight."""
        if isinstance(value, str):
            name, _, weight = value.partition(":")
            return {"name": name.strip(), "weight": float(weight) if weight.strip() else 1.0}
        return value


class ReferenceImage(_Model):
    """A style (``--sref``) or character (``--cref``) reference picture and its IP-Adapter weight.

    ``sha256`` names the picture in the input store (``generation.input_store``), the batch key
    and the PNG's parameters; ``png`` is the normalised picture itself, dropped from job rows
    (which keep the hash only) and attached again for the engine and for a remote worker
    (base64 in JSON).
    """

    model_config = ConfigDict(frozen=True)  # with _Model's base64 bytes

    kind: ReferenceKind
    png: bytes | None = Field(default=None, repr=False)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    weight: Annotated[float, Field(ge=0.0, le=MAX_REFERENCE_WEIGHT)] = 1.0


class ControlImage(_Model):
    """A ControlNet guide: the member's picture, the preprocessor that turns it into the
    condition (``canny`` edges or ``lineart``), and the conditioning scale; ``png``/``sha256`` as
    in ``ReferenceImage``."""

    model_config = ConfigDict(frozen=True)  # with _Model's base64 bytes

    mode: ControlMode
    png: bytes | None = Field(default=None, repr=False)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    scale: Annotated[float, Field(ge=0.0, le=MAX_CONTROL_SCALE)] = DEFAULT_CONTROL_SCALE


class GenerationRequest(_Model):
    """One user's request for 1–4 images that share every setting but the seed."""

    request_id: str = Field(default_factory=new_request_id)
    prompt: Annotated[str, Field(max_length=20_000)]
    negative_prompt: Annotated[str, Field(max_length=20_000)] = ""
    model: Annotated[str, Field(min_length=1, max_length=500)] = "tiny"
    width: Annotated[int, Field(ge=MIN_SIDE, le=MAX_SIDE)] = 512
    height: Annotated[int, Field(ge=MIN_SIDE, le=MAX_SIDE)] = 512
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 20
    guidance: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] = 7.0
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None
    count: Annotated[int, Field(ge=1, le=MAX_IMAGES)] = 1
    scheduler: str = "DPM++ 2M Karras"
    # A1111's variation seed: initial noise = slerp(noise(seed), noise(subseed), strength).
    subseed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None
    subseed_strength: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    # img2img, upscale and inpaint start from this image (PNG bytes; base64 in JSON). Stored
    # jobs keep only ``init_image_sha256`` (the picture lives once in ``generation.input_store``);
    # the queue puts the bytes back before a batch runs, here or on a Redis worker.
    mode: Mode = "txt2img"
    init_image: bytes | None = Field(default=None, repr=False)
    init_image_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    # inpaint: what to paint again, white on black (PNG bytes, the init image's size; grey above
    # half counts as white). Zoom out, pan and vary region are inpaint requests. It stays in the
    # row: a binary mask's PNG is a few KB even at 2048².
    mask_image: bytes | None = Field(default=None, repr=False)
    strength: Annotated[float, Field(gt=0.0, le=1.0)] = 0.35
    # Seamless tiles: circular padding on the denoiser's and the VAE's convolutions.
    tile: bool = False
    # One positive prompt per image (wildcards), else every image uses ``prompt``.
    per_image_prompts: list[str] | None = None
    prompt_edits: list[PromptEdit] = Field(default_factory=list)
    # What the user wrote (A1111 syntax, prompt editing kept), written to the PNG's
    # ``parameters`` for A1111 and ComfyUI to read back; the fields above hold the compel text
    # the model gets. None: the compel text stands for itself (a request made by hand).
    source_prompt: Annotated[str, Field(max_length=20_000)] | None = None
    source_negative: Annotated[str, Field(max_length=20_000)] | None = None
    per_image_source_prompts: list[str] | None = None
    # LoRAs for this request (the model's own, from the catalog, come on top); names are unique.
    loras: list[AdapterUse] = Field(default_factory=list, max_length=MAX_LORAS)
    # Style/character references (at most one of each) and a ControlNet guide.
    references: list[ReferenceImage] = Field(default_factory=list, max_length=2)
    control: ControlImage | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt is empty; describe what to paint")
        return value

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        if value % 8:
            raise ValueError(f"{value} is not a multiple of 8 (use {MIN_SIDE}..{MAX_SIDE}, step 8)")
        return value

    @field_validator("guidance")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number in 0..{MAX_GUIDANCE}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GenerationRequest:
        if self.mode != "txt2img" and self.init_image is None and self.init_image_sha256 is None:
            raise ValueError(f"mode {self.mode!r} needs init_image")
        if (self.mode == "inpaint") != (self.mask_image is not None):
            raise ValueError("mask_image goes with mode 'inpaint', and mode 'inpaint' needs it")
        if self.per_image_prompts is not None and len(self.per_image_prompts) != self.count:
            raise ValueError("per_image_prompts must hold exactly `count` prompts")
        sources = self.per_image_source_prompts
        if sources is not None and len(sources) != self.count:
            raise ValueError("per_image_source_prompts must hold exactly `count` prompts")
        names = [lora.name for lora in self.loras]
        if len(set(names)) != len(names):
            raise ValueError("each LoRA may be named once")
        kinds = [reference.kind for reference in self.references]
        if len(set(kinds)) != len(kinds):
            raise ValueError("at most one style and one character reference")
        return self

    def batch_key(self) -> tuple[object, ...]:
        """Requests with equal keys can share one pipeline call (the queue batches on this)."""
        return (
            self.model,
            self.mode,
            self.width,
            self.height,
            self.scheduler,
            self.steps,
            self.guidance,
            self.strength if self.mode != "txt2img" else None,
            bool(self.prompt_edits),
            tuple(sorted((lora.name, lora.weight) for lora in self.loras)),
            self.tile,
            tuple(sorted((r.kind, r.sha256, r.weight) for r in self.references)),
            (self.control.mode, self.control.sha256, self.control.scale) if self.control else None,
        )


class Timings(_Model):
    """Seconds spent in each stage of one request (the batch's stages are shared)."""

    load: float = 0.0
    encode: float = 0.0
    denoise: float = 0.0
    decode: float = 0.0
    safety: float = 0.0
    total: float = 0.0


class GeneratedImage(_Model):
    png: bytes
    seed: int
    subseed: int | None = None
    subseed_strength: float = 0.0
    width: int
    height: int
    prompt: str
    negative_prompt: str = ""
    # A1111's ``parameters`` text, also written into the PNG's text chunk.
    parameters: str
    # Verdict of the model's own StableDiffusionSafetyChecker, when it has one (None otherwise).
    model_nsfw: bool | None = None


class GenerationResult(_Model):
    request_id: str
    model: str
    scheduler: str
    images: list[GeneratedImage] = Field(default_factory=list)
    timings: Timings = Field(default_factory=Timings)
    cancelled: bool = False

    @property
    def seeds(self) -> list[int]:
        return [image.seed for image in self.images]


class StepProgress(_Model):
    """Reported after each denoising step of a batch; ``preview`` is a small PNG when asked."""

    request_ids: list[str]
    step: int
    total_steps: int
    elapsed: float
    preview: bytes | None = None
