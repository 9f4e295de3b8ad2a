"""Image sizes per model family: bounds, native size, aspect presets and the upscale rule
(no torch needed).

Each family was trained around one native size (512² for SD 1.x, 768² for SD 2.x, 1024² for
SDXL, FLUX.1 and SD 3.5); far from it the models repeat subjects or lose detail. SDXL's aspect
presets are the resolution buckets it was trained on (each at or under 1024² pixels, so every
preset runs under the default ``max_pixels``); FLUX.1 and SD 3.5, trained on about a megapixel in
many ratios, use the same sizes (all multiples of 64, as their 16-pixel step needs); SD 1.x and
2.x, trained on square crops, snap the ratio to multiples of 64 near the native pixel count.

Upscales (hires fix: img2img at low strength on a resized image) have a rule of their own: the
family's factor (×2 for SD 1.x/2.x, ×1.5 for SDXL, FLUX.1 and SD 3.5, whose 1024² base already
costs four times SD 1.x's pixels), shrunk until the result fits ``MAX_UPSCALE_SIDE`` per side and
the engine's ``max_upscale_pixels``; the txt2img limits do not apply, since the composition is
already fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from generation.errors import InvalidRequest
from generation.requests import MAX_SIDE

SIDE_STEP = 8
PRESET_STEP = 64
MAX_UPSCALE_SIDE = MAX_SIDE


@dataclass(frozen=True)
class FamilyBounds:
    native: int
    min_side: int
    max_side: int
    step: int = SIDE_STEP  # FLUX.1 and SD 3.5: the VAE's 8 × the transformer's 2×2 patches


FAMILY_BOUNDS: dict[str, FamilyBounds] = {
    "sd1": FamilyBounds(native=512, min_side=64, max_side=1024),
    "sd2": FamilyBounds(native=768, min_side=64, max_side=1536),
    "sdxl": FamilyBounds(native=1024, min_side=64, max_side=2048),
    "flux": FamilyBounds(native=1024, min_side=64, max_side=2048, step=16),
    "sd3": FamilyBounds(native=1024, min_side=64, max_side=2048, step=16),
}

ASPECTS: tuple[str, ...] = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16")

TRAINED_BUCKETS: dict[str, tuple[tuple[int, int], ...]] = {
    # SDXL's multi-aspect training buckets near 1024² (SDXL report, appendix), width ≥ height;
    # the portrait ones are these turned. Each is at most 1024 × 1024 pixels.
    "sdxl": ((1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640)),
}
TRAINED_BUCKETS["flux"] = TRAINED_BUCKETS["sd3"] = TRAINED_BUCKETS["sdxl"]

UPSCALE_FACTORS: dict[str, float] = {"sd1": 2.0, "sd2": 2.0, "sdxl": 1.5, "flux": 1.5, "sd3": 1.5}


def bounds(family: str) -> FamilyBounds:
    try:
        return FAMILY_BOUNDS[family]
    except KeyError:
        raise InvalidRequest("model", f"unknown model family {family!r}") from None


def native_size(family: str) -> tuple[int, int]:
    side = bounds(family).native
    return side, side


def aspect_size(family: str, aspect: str) -> tuple[int, int]:
    """(width, height) for ``aspect`` ("16:9", …) at the family's native pixel count."""
    if aspect not in ASPECTS:
        choices = ", ".join(ASPECTS)
        raise InvalidRequest("aspect", f"unknown aspect {aspect!r}; choose one of: {choices}")
    across, down = (int(part) for part in aspect.split(":"))
    return ratio_size(family, across / down)


def ratio_size(family: str, ratio: float) -> tuple[int, int]:
    """(width, height) nearest ``ratio`` (width ÷ height, e.g. an input picture's) at the
    family's native pixel count: its trained buckets where it has them."""
    buckets = TRAINED_BUCKETS.get(family)
    if buckets is None:
        return _snap(bounds(family).native, ratio)
    turned = [(h, w) for w, h in buckets]
    return min([*buckets, *turned], key=lambda wh: abs(math.log(wh[0] / wh[1] / ratio)))


def _snap(native: int, ratio: float) -> tuple[int, int]:
    """The multiple-of-64 size nearest ``ratio`` whose area is within -15%/+10% of native²."""
    area = native * native
    sides = range(PRESET_STEP, 2 * native + 1, PRESET_STEP)
    candidates = [(w, h) for w in sides for h in sides if 0.85 * area <= w * h <= 1.10 * area]
    return min(
        candidates,
        key=lambda wh: (round(abs(math.log(wh[0] / wh[1] / ratio)), 3), abs(wh[0] * wh[1] - area)),
    )


def parse_size(text: str) -> tuple[int, int]:
    """``"768x512"`` → (768, 512); the CLI's ``--size``."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise InvalidRequest("size", f"{text!r} is not WIDTHxHEIGHT, e.g. 512x768") from None
    return width, height


def check_size(family: str, width: int, height: int, max_pixels: int) -> None:
    """Raise ``InvalidRequest`` naming the side or the pixel count that is out of range."""
    limits = bounds(family)
    allowed = f"{limits.min_side}..{limits.max_side} in steps of {limits.step} for {family} models"
    for name, value in (("width", width), ("height", height)):
        if value % limits.step or not limits.min_side <= value <= limits.max_side:
            raise InvalidRequest(name, f"{value} is out of range; use {allowed}")
    if width * height > max_pixels:
        raise InvalidRequest(
            "size",
            f"{width}x{height} is {width * height} pixels; the limit is {max_pixels} "
            f"(e.g. {math.isqrt(max_pixels) // SIDE_STEP * SIDE_STEP} squared)",
        )


def upscale_size(family: str, width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The size an upscale of a ``width`` × ``height`` image produces (see the module's rule).

    ``InvalidRequest`` on ``upscale`` when the image cannot grow within the limits.
    """
    factor = min(
        UPSCALE_FACTORS.get(family, 2.0),
        MAX_UPSCALE_SIDE / width,
        MAX_UPSCALE_SIDE / height,
        math.sqrt(max_pixels / (width * height)),
    )
    step = bounds(family).step
    out = (int(width * factor) // step * step, int(height * factor) // step * step)
    if out[0] <= width or out[1] <= height:
        raise InvalidRequest(
            "upscale",
            f"this image is already {width}x{height}; an upscale must stay within "
            f"{MAX_UPSCALE_SIDE} per side and {max_pixels} pixels (engine.max_upscale_pixels)",
        )
    return out
