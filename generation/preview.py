"""A cheap look at the latents during denoising, for progress messages.

Decoding with the VAE costs seconds on a CPU; a fixed 4×3 linear map from the four latent channels
to RGB (the "latent RGB factors" ComfyUI and other UIs use) costs under a millisecond and shows
the composition forming. The image has the latent resolution (1/8 of each side).
"""

from __future__ import annotations

from typing import Any

from generation.flow_runtime import rgb_factors
from generation.png import encode_png, make_grid

# Rows: latent channels 0..3; columns: R, G, B. SD 1.x and 2.x share one VAE latent space.
_SD_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
_SDXL_BIAS = (0.1084, -0.0175, -0.0011)
_ZERO_BIAS = (0.0, 0.0, 0.0)


def latents_to_images(latents: Any, family: str) -> list[Any]:
    """PIL images, one per batch item, approximating what ``latents`` (B, 4 or 16, h, w) decode
    to (16 channels: FLUX.1's and SD 3.5's VAEs)."""
    import torch
    from PIL import Image

    factors, bias = (_SDXL_FACTORS, _SDXL_BIAS) if family == "sdxl" else (_SD_FACTORS, _ZERO_BIAS)
    if latents.shape[1] == 16:
        factors, bias = rgb_factors(family)
    weight = torch.tensor(factors, dtype=torch.float32)
    rgb = torch.einsum("bchw,cr->bhwr", latents.detach().float().cpu(), weight)
    rgb = rgb + torch.tensor(bias, dtype=torch.float32)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return [Image.fromarray(item, mode="RGB") for item in pixels]


def preview_png(latents: Any, family: str) -> bytes:
    """One small PNG of ``latents``: a grid when they hold several images."""
    return encode_png(make_grid(latents_to_images(latents, family)))
