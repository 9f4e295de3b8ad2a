"""Zoom out, pan and vary region as pictures: the canvas to paint on and the mask of what is new.

Midjourney's zoom out and pan, done the way A1111's "outpainting" and ComfyUI's "pad image for
outpainting" do it, at the picture's own size so they can be repeated: zoom out ×1.5 / ×2 shrinks
the picture into the middle of the frame and paints the border around it; a pan slides the view
by a third of a side and paints the strip that comes into view. The mask reaches a few pixels into
the old picture (``overlap``) so the seam is painted again and the engine's soft blend
(``generation.masks``) fades it. Vary region masks a part of the picture (halves, thirds, the
center). The new border starts as a blurred stretch of the picture: a 4-channel model painting it
at strength 1 ignores it, an inpainting checkpoint sees it masked out, and either way no hard
edge of a flat colour shows through.

Pure PIL: studio builds these before the job is queued; the engine receives an ordinary
``mode="inpaint"`` request.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Literal, get_args

from PIL import Image, ImageFilter

from generation import sizes
from generation.errors import InvalidRequest
from generation.masks import binary, feather_for

Move = Literal["zoom_out_1.5", "zoom_out_2", "pan_left", "pan_right", "pan_up", "pan_down"]
MOVES: tuple[Move, ...] = get_args(Move)
ZOOMS: dict[str, float] = {"zoom_out_1.5": 1.5, "zoom_out_2": 2.0}
PANS: dict[str, tuple[int, int]] = {
    "pan_left": (-1, 0),
    "pan_right": (1, 0),
    "pan_up": (0, -1),
    "pan_down": (0, 1),
}
PAN_SHARE = 1 / 3
"""How far a pan slides the view, as a share of the side it moves along."""

Region = Literal[
    "left_half",
    "right_half",
    "top_half",
    "bottom_half",
    "left_third",
    "right_third",
    "top_third",
    "bottom_third",
    "center",
]
REGIONS: dict[str, str] = {
    "left_half": "Left half",
    "right_half": "Right half",
    "top_half": "Top half",
    "bottom_half": "Bottom half",
    "left_third": "Left third",
    "right_third": "Right third",
    "top_third": "Top third",
    "bottom_third": "Bottom third",
    "center": "Center (the middle half each way)",
}
# The region as (left, top, right, bottom) shares of the picture.
_REGION_BOXES: dict[str, tuple[float, float, float, float]] = {
    "left_half": (0, 0, 1 / 2, 1),
    "right_half": (1 / 2, 0, 1, 1),
    "top_half": (0, 0, 1, 1 / 2),
    "bottom_half": (0, 1 / 2, 1, 1),
    "left_third": (0, 0, 1 / 3, 1),
    "right_third": (2 / 3, 0, 1, 1),
    "top_third": (0, 0, 1, 1 / 3),
    "bottom_third": (0, 2 / 3, 1, 1),
    "center": (1 / 4, 1 / 4, 3 / 4, 3 / 4),
}
STRENGTH = 1.0
"""Zoom, pan and vary region paint the masked part from pure noise (as Midjourney's do)."""


@dataclass(frozen=True)
class Canvas:
    """What an inpainting request starts from: the picture and its mask, both PNG, one size
    (the mask 1-bit: a few KB even at 2048², so it stays in the job's row)."""

    picture: bytes
    mask: bytes
    width: int
    height: int


def open_picture(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as opened:
        return opened.convert("RGB")


def fit_size(family: str, width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """``width`` × ``height`` at the same aspect, shrunk to ``max_pixels`` when larger (an
    upscaled picture) and snapped to the family's step within its side limits."""
    limits = sizes.bounds(family)
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    snapped = []
    for side in (width, height):
        value = int(side * scale) // limits.step * limits.step
        snapped.append(min(limits.max_side, max(limits.min_side, value)))
    return snapped[0], snapped[1]


def _png(picture: Image.Image) -> bytes:
    """PNG at zlib level 1: a canvas is stored once and read once; at 2048² the default level
    costs about a second more for a few per cent of size."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _backdrop(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The picture stretched over the whole frame and blurred: the new border's start (blurred
    at 1/8 of the size, then enlarged: the same look, 64 times fewer pixels to blur)."""
    small = (max(1, size[0] // 8), max(1, size[1] // 8))
    blurred = picture.resize(small, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(2))
    return blurred.resize(size, Image.Resampling.BILINEAR)


def outpaint(picture: Image.Image, move: str, size: tuple[int, int]) -> Canvas:
    """The canvas and mask of ``move`` (a zoom out or a pan) for ``picture`` at ``size``."""
    if move not in MOVES:
        raise InvalidRequest("move", f"unknown move {move!r}; use one of {', '.join(MOVES)}")
    width, height = size
    picture = picture.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    overlap = 2 * feather_for(width, height)
    canvas = _backdrop(picture, size)
    mask = Image.new("L", size, 255)
    if move in ZOOMS:
        factor = ZOOMS[move]
        inner = (round(width / factor), round(height / factor))
        left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
        canvas.paste(picture.resize(inner, Image.Resampling.LANCZOS), (left, top))
        keep = (left + overlap, top + overlap, left + inner[0] - overlap, top + inner[1] - overlap)
    else:
        across, down = PANS[move]
        shift_x, shift_y = round(width * PAN_SHARE) * across, round(height * PAN_SHARE) * down
        # The view moves by (shift_x, shift_y): the picture moves the other way on the canvas.
        canvas.paste(picture, (-shift_x, -shift_y))
        keep = (
            max(0, -shift_x) + (overlap if across < 0 else 0),
            max(0, -shift_y) + (overlap if down < 0 else 0),
            width - max(0, shift_x) - (overlap if across > 0 else 0),
            height - max(0, shift_y) - (overlap if down > 0 else 0),
        )
    mask.paste(0, keep)
    return Canvas(_png(canvas), _png(mask.convert("1")), width, height)


def region(picture: Image.Image, area: str, size: tuple[int, int]) -> Canvas:
    """The picture at ``size`` and the mask of ``area`` (one of ``REGIONS``)."""
    box = _REGION_BOXES.get(area)
    if box is None:
        raise InvalidRequest("region", f"unknown region {area!r}; use one of {', '.join(REGIONS)}")
    width, height = size
    picture = picture.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    mask = Image.new("L", size, 0)
    left, top, right, bottom = box
    mask.paste(
        255,
        (round(left * width), round(top * height), round(right * width), round(bottom * height)),
    )
    return Canvas(_png(picture), _png(mask), width, height)


def with_mask(picture: Image.Image, mask: Image.Image, size: tuple[int, int]) -> Canvas:
    """A member's own mask (white: paint again) for ``picture``: it must have the picture's
    aspect (within 2 %) and mask something; both are brought to ``size``."""
    ratio = (picture.width / picture.height) / (mask.width / mask.height)
    if not 0.98 <= ratio <= 1.02:
        raise InvalidRequest(
            "mask",
            f"the mask is {mask.width}×{mask.height} but the image is "
            f"{picture.width}×{picture.height}; use a mask of the image's shape",
        )
    hard = binary(mask.convert("L").resize(size, Image.Resampling.BILINEAR))
    if hard.getbbox() is None:
        raise InvalidRequest(
            "mask", "the mask is all black, so nothing would change; paint white what to redo"
        )
    picture = picture.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    return Canvas(_png(picture), _png(hard.convert("1")), size[0], size[1])
