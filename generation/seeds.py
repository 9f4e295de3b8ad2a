"""Seeds and initial noise: one CPU generator per image, as diffusers draws it, plus variations.

The noise is made here rather than inside the pipeline so that A1111's variation seed works: the
starting latents are a spherical interpolation between the noise of ``seed`` and of ``subseed``.
The noise comes from ``randn_tensor`` with a CPU generator, exactly as the pipeline would draw
it, so a request without a variation gives the same pixels as a plain diffusers call on any device.
"""

from __future__ import annotations

import secrets
from typing import Any

from generation.requests import SEED_MAX


def draw_seed() -> int:
    """A fresh seed for a request that gave none (reported back, so it can be reproduced)."""
    return secrets.randbelow(SEED_MAX + 1)


def image_seeds(seed: int, count: int) -> list[int]:
    """Seeds of a request's images: ``seed``, ``seed + 1``, … (wrapping past 2^32 - 1)."""
    return [(seed + index) % (SEED_MAX + 1) for index in range(count)]


def initial_noise(
    shape: tuple[int, ...],
    seed: int,
    *,
    dtype: Any,
    device: Any,
    subseed: int | None = None,
    subseed_strength: float = 0.0,
) -> tuple[Any, Any]:
    """(noise, generator) for one image; ``shape`` is its latent shape with a batch of 1.

    The returned generator is ``seed``'s, advanced by one latent-sized draw, exactly as it stands
    after the pipeline's own ``prepare_latents``: hand it to the pipeline so ancestral schedulers
    (Euler a, SDE) draw the same per-step noise as a plain call would.
    """
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    generator = torch.Generator("cpu").manual_seed(seed)
    noise = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
    if subseed is None or subseed_strength == 0.0:
        return noise, generator
    sub_generator = torch.Generator("cpu").manual_seed(subseed)
    subnoise = randn_tensor(shape, generator=sub_generator, device=device, dtype=dtype)
    if subseed_strength == 1.0:
        return subnoise, generator
    return slerp(subseed_strength, noise, subnoise), generator


def slerp(t: float, low: Any, high: Any) -> Any:
    """Spherical interpolation from ``low`` (t=0) to ``high`` (t=1), per batch item.

    Gaussian noise lives near a sphere; a straight line between two noises would shrink the norm
    in the middle and wash the image out, the arc keeps it.
    """
    import torch

    flat_low = low.reshape(low.shape[0], -1).float()
    flat_high = high.reshape(high.shape[0], -1).float()
    cos = (
        torch.nn.functional.normalize(flat_low, dim=1)
        * torch.nn.functional.normalize(flat_high, dim=1)
    ).sum(dim=1, keepdim=True)
    if bool((cos.abs() > 0.9995).all()):  # nearly parallel: the arc is a line
        mixed = (1.0 - t) * flat_low + t * flat_high
    else:
        omega = torch.acos(cos.clamp(-1.0, 1.0))
        sin_omega = torch.sin(omega)
        mixed = (torch.sin((1.0 - t) * omega) / sin_omega) * flat_low + (
            torch.sin(t * omega) / sin_omega
        ) * flat_high
    return mixed.reshape(low.shape).to(low.dtype)
