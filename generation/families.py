"""What each model family needs at run time, as plain data (no torch): the engine, the loader and
studio's planning read these facts instead of testing family names all over the code.

SD 1.x, 2.x and SDXL are UNet models with classifier-free guidance and any of the A1111
samplers. FLUX.1 and SD 3.5 are flow-matching transformers: their sampler is the flow-matching
Euler the model ships with, their latents have 16 channels, and their sides must be multiples of
16 (the VAE's 8 times the transformer's 2×2 patches). FLUX.1 is guidance-distilled: its
``guidance`` is an input of the model (FLUX.1-dev), not a second pass, so there is no negative
prompt and no CFG scale. (How the families read prompt text is ``prompting.families``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from generation.schedulers import FLOW_NAMES
from prompting.negatives import ModelFamily

Guidance = Literal["cfg", "distilled"]


@dataclass(frozen=True)
class FamilyTraits:
    label: str
    guidance: Guidance = "cfg"
    """``cfg``: classifier-free guidance (a negative pass); ``distilled``: an input of the model."""
    flow: bool = False
    """A flow-matching transformer (FLUX.1, SD 3.5) rather than a UNet."""
    side_step: int = 8
    latent_channels: int = 4
    textual_inversion: bool = True
    """Embeddings load into its CLIP tokenizers (SD 1.x/2.x/SDXL)."""
    schedulers: tuple[str, ...] | None = None
    """The sampler names it runs with (None: every name of ``generation.schedulers``)."""


FAMILIES: dict[str, FamilyTraits] = {
    "sd1": FamilyTraits("SD 1.x"),
    "sd2": FamilyTraits("SD 2.x"),
    "sdxl": FamilyTraits("SDXL"),
    "flux": FamilyTraits(
        "FLUX.1",
        guidance="distilled",
        flow=True,
        side_step=16,
        latent_channels=16,
        textual_inversion=False,
        schedulers=FLOW_NAMES,
    ),
    "sd3": FamilyTraits(
        "SD 3.5",
        flow=True,
        side_step=16,
        latent_channels=16,
        textual_inversion=False,
        schedulers=FLOW_NAMES,
    ),
}


def traits(family: ModelFamily | str) -> FamilyTraits:
    return FAMILIES[family]


def is_flow(family: str) -> bool:
    return FAMILIES[family].flow
