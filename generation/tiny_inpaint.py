"""The built-in inpainting checkpoint ``tiny-inpaint``: ``tiny``'s dedicated inpainting twin.

Real inpainting checkpoints (runwayml's SD 1.5 inpainting, SD 2 inpainting, the SDXL 0.1
inpainting UNet) are their base model with a UNet trained on 9 input channels: the noisy latents,
the mask, and the latents of the picture with the masked part blanked. This stand-in is the same
layout at tiny size: ``tiny``'s text encoder, tokenizer and VAE (same seeds, so the same weights)
and a seeded 9-channel UNet, saved as a ``StableDiffusionInpaintPipeline`` and loaded through
``AutoPipelineForInpainting.from_pretrained`` like any inpainting folder. Its weights are random:
what it paints in the mask is noise-like, but the mask, the blend and the loading are the real ones.
"""

from __future__ import annotations

from pathlib import Path

from generation.tiny import build_tiny_sd

INPAINT_CHANNELS = 9
"""4 noisy latents + 1 mask + 4 masked-image latents: what diffusers' inpaint pipelines feed."""


def build_tiny_inpaint(folder: Path) -> None:
    """Build the 9-channel SD 1.x inpainting pipeline and ``save_pretrained`` it into ``folder``."""
    build_tiny_sd(folder, unet_in_channels=INPAINT_CHANNELS)


INPAINT_BUILDERS = {"tiny-inpaint": build_tiny_inpaint}
