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

from generation.tiny import TINY_SEED, _text_encoder, _unet, _vae, clip_tokenizer

INPAINT_CHANNELS = 9
"""4 noisy latents + 1 mask + 4 masked-image latents: what diffusers' inpaint pipelines feed."""


def build_tiny_inpaint(folder: Path) -> None:
    """Build the 9-channel SD 1.x inpainting pipeline and ``save_pretrained`` it into ``folder``."""
    import torch
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionInpaintPipeline

    unet = _unet(in_channels=INPAINT_CHANNELS, sample_size=8, cross_attention_dim=32)
    torch.manual_seed(TINY_SEED)
    vae = _vae()
    torch.manual_seed(TINY_SEED)
    text_encoder = _text_encoder(with_projection=False)
    scheduler = DPMSolverMultistepScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
    )
    pipe = StableDiffusionInpaintPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


INPAINT_BUILDERS = {"tiny-inpaint": build_tiny_inpaint}
