"""What the engine does differently for the flow-matching families (FLUX.1, SD 3.5).

The engine's stages stay the same (encode, noise, denoise with callbacks, decode); these are the
family-specific pieces, each equal to what the diffusers pipeline does itself:

- conditioning: FLUX.1 takes positive embeddings, the pooled CLIP vector and its distilled
  ``guidance`` (FLUX.1-dev; schnell has no guidance input): no negative, no CFG pass. SD 3.5
  takes positive and negative embeddings and pooled vectors, with CFG above a scale of 1.
- noise: 16 latent channels; FLUX.1 packs each 2×2 latent patch into one token
  (``_pack_latents``), so the pipeline takes packed noise.
- decoding: unpack (FLUX.1), then ``latents / scaling_factor + shift_factor`` into the VAE.
- previews: the published 16-channel latent-RGB factors of each VAE (as ComfyUI and other UIs use
  them) on the unpacked latents.
"""

from __future__ import annotations

from typing import Any

from generation import seeds

# Rows: the 16 latent channels; columns: R, G, B; then the bias. Published per VAE.
SD3_RGB = (
    (
        (-0.0922, -0.0175, 0.0749),
        (0.0311, 0.0633, 0.0954),
        (0.1994, 0.0927, 0.0458),
        (0.0856, 0.0339, 0.0902),
        (0.0587, 0.0272, -0.0496),
        (-0.0006, 0.1104, 0.0309),
        (0.0978, 0.0306, 0.0427),
        (-0.0042, 0.1038, 0.1358),
        (-0.0194, 0.0020, 0.0669),
        (-0.0488, 0.0130, -0.0268),
        (0.0922, 0.0988, 0.0951),
        (-0.0278, 0.0524, -0.0542),
        (0.0332, 0.0456, 0.0895),
        (-0.0069, -0.0030, -0.0810),
        (-0.0596, -0.0465, -0.0293),
        (-0.1448, -0.1463, -0.1189),
    ),
    (0.2394, 0.2135, 0.1925),
)
FLUX_RGB = (
    (
        (-0.0346, 0.0244, 0.0681),
        (0.0034, 0.0210, 0.0687),
        (0.0275, -0.0668, -0.0433),
        (-0.0174, 0.0160, 0.0617),
        (0.0859, 0.0721, 0.0329),
        (0.0004, 0.0383, 0.0115),
        (0.0405, 0.0861, 0.0915),
        (-0.0236, -0.0185, -0.0259),
        (-0.0245, 0.0250, 0.1180),
        (0.1008, 0.0755, -0.0421),
        (-0.0515, 0.0201, 0.0011),
        (0.0428, -0.0012, -0.0036),
        (0.0817, 0.0765, 0.0749),
        (-0.1264, -0.0522, -0.1103),
        (-0.0280, -0.0881, -0.0499),
        (-0.1262, -0.0982, -0.0778),
    ),
    (-0.0329, -0.0718, -0.0851),
)


def conditioning(
    family: str, pipe: Any, positive: Any, negative: Any, guidance: float
) -> dict[str, Any]:
    """The pipeline's prompt and guidance arguments (``positive``/``negative``: stacked embeds
    and pooled vectors of the batch)."""
    if family == "flux":
        return {
            "prompt_embeds": positive.embeds,
            "pooled_prompt_embeds": positive.pooled,
            "guidance_scale": guidance,  # used by FLUX.1-dev's guidance input only
        }
    return {
        "prompt_embeds": positive.embeds,
        "negative_prompt_embeds": negative.embeds,
        "pooled_prompt_embeds": positive.pooled,
        "negative_pooled_prompt_embeds": negative.pooled,
        "guidance_scale": guidance,
    }


def latent_size(pipe: Any, width: int, height: int) -> tuple[int, int]:
    """(latent height, latent width) as the pipeline computes them."""
    scale = pipe.vae_scale_factor
    return 2 * (height // (scale * 2)), 2 * (width // (scale * 2))


def initial_latents(
    family: str,
    pipe: Any,
    width: int,
    height: int,
    image_seeds: list[tuple[int, int | None, float]],
    dtype: Any,
) -> tuple[Any, list[Any]]:
    """(latents, generators) for ``(seed, subseed, strength)`` per image (see ``seeds``)."""
    import torch

    rows, columns = latent_size(pipe, width, height)
    config = pipe.transformer.config
    channels = config.in_channels // 4 if family == "flux" else config.in_channels
    noises, generators = [], []
    for seed, subseed, strength in image_seeds:
        noise, generator = seeds.initial_noise(
            (1, channels, rows, columns),
            seed,
            dtype=dtype,
            device=pipe._execution_device,
            subseed=subseed,
            subseed_strength=strength,
        )
        if family == "flux":
            noise = pipe._pack_latents(noise, 1, channels, rows, columns)
        noises.append(noise)
        generators.append(generator)
    return torch.cat(noises), generators


def unpacked(family: str, pipe: Any, latents: Any, width: int, height: int) -> Any:
    """(B, 16, h, w) latents (FLUX.1's come packed as (B, tokens, 64))."""
    if family != "flux":
        return latents
    return pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)


def decode(family: str, pipe: Any, latents: Any, width: int, height: int) -> Any:
    """Pixels (B, 3, H, W) in -1..1, as the pipeline's own last step makes them."""
    vae = pipe.vae
    latents = unpacked(family, pipe, latents, width, height)
    latents = latents / vae.config.scaling_factor + vae.config.shift_factor
    latents = latents.to(next(iter(vae.parameters())).dtype)
    return vae.decode(latents, return_dict=False)[0]


def rgb_factors(family: str) -> tuple[Any, Any]:
    return FLUX_RGB if family == "flux" else SD3_RGB
