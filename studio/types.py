"""Studio's surface as plain data: what a front end passes in and what it gets back.

A front end (the Discord bot, the CLI, a test) calls ``studio.Studio`` with what the user typed or
clicked and who they are (``Requester``); studio decides models, sizes, seeds, derived requests,
safety, moderation and delivery bookkeeping. Nothing here knows Discord: ids are plain integers,
texts are for any front end to show, and a delivery's reply token is an opaque string.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from generation.errors import InvalidRequest
from generation.requests import (
    MAX_GUIDANCE,
    MAX_IMAGES,
    MAX_REFERENCE_WEIGHT,
    MAX_STEPS,
    SEED_MAX,
    GenerationRequest,
)
from safety import ModerationEntry
from studio.image_inputs import InputPicture
from studio.ranges import describe

Derivation = Literal[
    "reroll",
    "vary_subtle",
    "vary_strong",
    "upscale",
    "zoom_out_1.5",
    "zoom_out_2",
    "pan_left",
    "pan_right",
    "pan_up",
    "pan_down",
]
DERIVATIONS: tuple[Derivation, ...] = get_args(Derivation)
ChoiceField = Literal["style", "aspect", "scheduler", "model", "lora", "control_mode"]
MIN_STRENGTH = 0.05
"""The least img2img strength a member may ask for (below it nothing visible changes)."""
MAX_PROMPT_CHARS = 1500
"""The longest prompt (and negative) a member may type, in Discord and on the CLI alike."""
ShortText = Annotated[str, Field(min_length=1, max_length=100)]
"""A short option: a preset, an aspect, a sampler, a model name, a prompt detail."""
# Ranges shared by /imagine's options and a member's own defaults (``studio.preferences``).
Count = Annotated[int, Field(ge=1, le=MAX_IMAGES)]
Steps = Annotated[int, Field(ge=1, le=MAX_STEPS)]
ReferenceWeight = Annotated[float, Field(ge=0.0, le=MAX_REFERENCE_WEIGHT)]
"""An IP-Adapter weight of a style (``sref``) or character (``cref``) reference."""


@dataclass(frozen=True)
class Requester:
    """Who asks, and where, as the front end knows it: studio derives every rule from these
    (moderator or not, the guild's defaults, limits, safety settings, bans)."""

    user_id: int
    guild_id: int
    channel_id: int
    channel_nsfw: bool = False
    """The channel is age-restricted."""
    role_ids: tuple[int, ...] = ()
    manage_messages: bool = False
    """The member may manage messages in this channel (a moderator by permission)."""
    manage_guild: bool = False
    """The member may manage the server (may change its settings)."""


class ImagineOptions(BaseModel):
    """The options of ``/imagine`` and ``muralist imagine`` as the user gave them (None: the
    defaults of the member's guild, the model and the instance, in that order).

    Each range is declared here once; front ends read it (``studio.ranges.bounds``) for their
    own option declarations, and ``ImagineOptions.parse`` turns any breach into one error that
    names the option and the range.
    """

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]
    negative: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)] | None = None
    style: ShortText | None = None
    medium: ShortText | None = None
    lighting: ShortText | None = None
    composition: ShortText | None = None
    details: ShortText | None = None
    aspect: ShortText | None = None
    size: tuple[int, int] | None = Field(
        default=None, description="An explicit width × height (the CLI's --size)."
    )
    count: Count | None = None
    steps: Steps | None = None
    cfg: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] | None = None
    guidance: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] | None = Field(
        default=None, description="FLUX.1-dev's distilled guidance (its CFG-free setting)."
    )
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None
    scheduler: ShortText | None = None
    model: ShortText | None = None
    lora: ShortText | None = Field(
        default=None, description="A LoRA of the catalog, as NAME or NAME:WEIGHT."
    )
    draft: bool | None = Field(
        default=None,
        description="Paint with the family's fast few-step model (U repaints); None: not said.",
    )
    default_negative: bool = Field(
        default=True, description="Start the negative with the guild's or the model's default."
    )
    image: InputPicture | None = Field(
        default=None,
        description="A picture to start from (img2img), read by ``studio.image_inputs``.",
    )
    strength: Annotated[float, Field(ge=MIN_STRENGTH, le=1.0)] | None = Field(
        default=None,
        description="How far to move away from ``image``: near 0 keeps it, 1 repaints it.",
    )
    tile: bool = Field(default=False, description="Paint a seamless tile (edges wrap around).")
    control_mode: ShortText | None = Field(
        default=None,
        description="canny or lineart, optionally with a scale 0..2 (e.g. canny:0.7)",
    )
    sref: InputPicture | None = Field(
        default=None, description="A style reference (IP-Adapter, InstantStyle's style block)."
    )
    cref: InputPicture | None = Field(
        default=None, description="A character reference (IP-Adapter on every block)."
    )
    control: InputPicture | None = Field(
        default=None, description="A ControlNet picture, preprocessed as ``control_mode`` says."
    )
    sref_weight: ReferenceWeight | None = None
    cref_weight: ReferenceWeight | None = None

    def input_pictures(self) -> list[tuple[str, InputPicture]]:
        """Every picture the member gave, by option: each is screened before the job is queued."""
        named = (("image", self.image), ("sref", self.sref), ("cref", self.cref))
        return [(name, picture) for name, picture in (*named, ("control", self.control)) if picture]

    @field_validator("cfg", "guidance", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        """Before the range check, which would call nan "more than 30"."""
        try:
            number = float(value) if isinstance(value, float | str) else None
        except ValueError:
            number = None  # not a number at all: pydantic's own message says so
        if number is not None and not math.isfinite(number):
            raise ValueError(f"must be a finite number in 0..{MAX_GUIDANCE:g}")
        return value

    @classmethod
    def parse(cls, **values: Any) -> ImagineOptions:
        """The options, or ``InvalidRequest`` naming the first bad one and its allowed range."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problem = exc.errors()[0]
            name = str(problem["loc"][0]) if problem["loc"] else "options"
            allowed = describe(cls, name) if name in cls.model_fields else "see /help"
            got = problem.get("input")
            long = isinstance(got, str) and len(got) > 40
            shown = f"{len(got)} characters" if long else repr(got)
            message = str(problem["msg"]).removeprefix("Value error, ")
            raise InvalidRequest(name, f"{message} (allowed: {allowed}; got {shown})") from None


class DeliveryTarget(BaseModel):
    """What the front end needs later to deliver a job's result, kept by studio with the job.

    Opaque to studio: the Discord bot stores its interaction token here, so that after a restart
    it can still edit the original message while the token is valid.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    reply_token: str | None = Field(default=None, repr=False)
    application_id: int | None = None
    expires_at: float | None = Field(default=None, description="Unix time the token dies.")
    message_id: int | None = Field(
        default=None,
        description="The reply's own message id, to reach it once the token is gone.",
    )


@dataclass(frozen=True)
class Submitted:
    """A job accepted into the queue: its id, its place, and prompt warnings to show briefly."""

    job_id: str
    position: int
    eta_seconds: float
    warnings: list[str] = field(default_factory=list)
    lane: str | None = None
    """``fast`` or ``relax`` (``studio.quotas``): in relax, fast jobs that arrive later may go
    first, so its ETA holds only while the fast lane stays as busy as now."""


@dataclass(frozen=True)
class Deleted:
    """A result its requester or a moderator deleted; ``place`` is its message, when known."""

    job_id: str
    place: tuple[int, int] | None


@dataclass(frozen=True)
class Orphan:
    """A job no interaction follows any more (queued, running or finished before a restart)."""

    job_id: str
    user_id: int
    channel_id: int
    target: DeliveryTarget = field(default_factory=DeliveryTarget)
    ended: bool = False
    """The job had ended before the restart: its result may already be posted."""


@dataclass(frozen=True)
class Reported:
    """``accepted``: False when this user had reported it before; ``hidden``: this report was
    the one that hides the result (the front end takes it down)."""

    accepted: bool
    hidden: bool


@dataclass(frozen=True)
class JobImage:
    png: bytes
    seed: int
    spoiler: bool = False
    """Flagged and blurred by the safety policy: posted behind a spoiler."""
    model_nsfw: bool | None = None
    """The model's own safety checker's verdict (None: the model has none)."""


@dataclass(frozen=True)
class JobRecord:
    """A stored job, enough to render it and to act on its buttons after a restart."""

    job_id: str
    user_id: int
    guild_id: int
    channel_id: int
    action: str
    request: GenerationRequest
    status: str
    images: list[JobImage] = field(default_factory=list)
    seconds: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Queued:
    position: int
    eta_seconds: float


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    preview: bytes | None = None


@dataclass(frozen=True)
class Finished:
    job: JobRecord


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class Blocked:
    """Nothing is posted: the safety policy withheld the images, or they wait for a moderator's
    approval; ``message`` says which without showing them."""

    message: str


JobEvent = Queued | Progress | Finished | Failed | Blocked


# --- what moderators hear: studio decides, the front end posts ------------------------------
@dataclass(frozen=True)
class LogNotice:
    """Tell the guild's moderation log channel of a record entry (``place``: where the entry's
    result is posted, ``(channel id, message id)``, when known)."""

    channel_id: int
    entry: ModerationEntry
    place: tuple[int, int] | None = None


@dataclass(frozen=True)
class ApprovalNotice:
    """A result waits for a moderator in ``channel_id``; ``entry`` is its record entry."""

    channel_id: int
    job: JobRecord
    entry: ModerationEntry


Notice = LogNotice | ApprovalNotice
