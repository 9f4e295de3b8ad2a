"""The instance's choices studio applies to every request (set by the admin, not by members)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from generation.requests import MAX_IMAGES

ImageSide = Annotated[int, Field(ge=64, le=2048, multiple_of=8)]
DefaultCount = Annotated[int, Field(ge=1, le=MAX_IMAGES)]
ImageStrength = Annotated[float, Field(ge=0.05, le=1.0)]
InputPixels = Annotated[int, Field(ge=64 * 64, le=8192 * 8192)]
InputBytes = Annotated[int, Field(ge=1024, le=500 * 1024 * 1024)]


class StudioOptions(BaseModel):
    """Sizes and counts for requests that name none (the bot reads them from ``[discord]``)."""

    model_config = ConfigDict(extra="forbid")

    image_side: ImageSide | None = Field(
        default=None,
        description="Side of a 1:1 image (None: the model's native size); other aspects keep "
        "its pixel count.",
    )
    default_count: DefaultCount = Field(default=4, description="Images per request.")
    image_strength: ImageStrength = Field(
        default=0.6,
        description="How far /imagine moves away from an attached picture when the member "
        "gives no strength (0.05 keeps it, 1 repaints it).",
    )
    input_max_pixels: InputPixels = Field(
        default=4096 * 4096,
        description="The most pixels an input picture may have (checked before decoding).",
    )
    input_max_bytes: InputBytes = Field(
        default=10 * 1024 * 1024,
        description="The largest input file read (Discord's upload limit may be lower).",
    )
    models_here: bool = Field(
        default=False,
        description="Models load in this process (the start-up wiring sets it when there are "
        "no Redis workers): one that cannot load here offline is refused before its job is "
        "queued. Off, planning takes any catalog model (e.g. to plan for other hosts).",
    )
