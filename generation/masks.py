"""Masks of inpainting requests: read, checked, and the soft blend that keeps what is unmasked.

A mask is white where the picture is painted again and black where it stays (grey counts as
white above half, as diffusers binarises it). The inpainting pipelines keep the unmasked part
only in latent space, so a VAE round trip still shifts its pixels a little; the engine therefore
pastes the painted picture into the original through a *soft* mask: a ramp ``feather`` pixels
wide that lies wholly inside the mask, so every unmasked pixel is the original's, exactly, and the
seam fades instead of showing a hard edge. PIL only (no torch): studio builds masks with it too.
"""

from __future__ import annotations

import io

from PIL import Image, ImageChops, ImageFilter, UnidentifiedImageError

from generation.errors import InvalidRequest

_HALF = 128


def feather_for(width: int, height: int) -> int:
    """The blend ramp's width for a picture: 1/32 of its shorter side, 2–32 pixels."""
    return max(2, min(32, min(width, height) // 32))


def read_mask(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The request's ``mask_image`` as a binary L image of ``size`` (refused when unreadable or
    when it masks nothing)."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            mask = opened.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidRequest("mask_image", f"not a readable image ({exc})") from None
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    hard = binary(mask)
    if hard.getbbox() is None:
        raise InvalidRequest(
            "mask_image", "the mask is all black, so nothing would change; paint white what to redo"
        )
    return hard


def binary(mask: Image.Image) -> Image.Image:
    """White (255) where the mask is at least half white, black elsewhere."""
    return mask.convert("L").point(lambda value: 255 if value >= _HALF else 0)


def soft_mask(mask: Image.Image, feather: int) -> Image.Image:
    """``mask`` with a ramp on the inner side of every edge: 0 on and outside the mask's edge,
    rising to 255 some 2 × ``feather`` pixels in. Edges on the picture's border
    get no ramp (nothing lies beyond them). A mask too thin to hold a ramp stays hard."""
    hard = binary(mask)
    if feather < 1:
        return hard
    # Erode: keep only pixels whose whole (2f+1)² box is masked (the box clamps at the border).
    inside = hard.filter(ImageFilter.BoxBlur(feather)).point(lambda v: 255 if v >= 255 else 0)
    if inside.getbbox() is None:
        return hard
    half = max(1, feather // 2)
    ramp = inside.filter(ImageFilter.BoxBlur(half)).filter(ImageFilter.BoxBlur(half))
    return ImageChops.multiply(ramp, hard)  # never outside the mask, whatever the rounding


def blend(painted: Image.Image, original: Image.Image, soft: Image.Image) -> Image.Image:
    """The painted picture inside the soft mask, the original outside it."""
    if original.size != painted.size:
        original = original.resize(painted.size, Image.Resampling.LANCZOS)
    return Image.composite(painted.convert("RGB"), original.convert("RGB"), soft)
