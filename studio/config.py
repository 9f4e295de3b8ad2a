"""The instance's choices studio applies to every request (set by the admin, not by members)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from generation.requests import MAX_IMAGES

ImageSide = Annotated[int, Field(ge=64, le=2048, multiple_of=8)]
DefaultCount = Annotated[int, Field(ge=1, le=MAX_IMAGES)]


class StudioOptions(BaseModel):
    """Sizes and counts for requests that name none (the bot reads them from ``[discord]``)."""

    model_config = ConfigDict(extra="forbid")

    image_side: ImageSide | None = Field(
        default=None,
        description="Side of a 1:1 image (None: the model's native size); other aspects keep "
        "its pixel count.",
    )
    default_count: DefaultCount = Field(default=4, description="Images per request.")
    models_here: bool = Field(
        default=False,
        description="Models load in this process (the start-up wiring sets it when there are "
        "no Redis workers): one that cannot load here offline is refused before its job is "
        "queued. Off, planning takes any catalog model (e.g. to plan for other hosts).",
    )
