"""Pictures for a front end to show: a job's images as one grid."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image

from generation.png import make_grid


def grid_png(pngs: Sequence[bytes]) -> bytes:
    """The images side by side (2×2, or 2×1 for two) as one PNG."""
    pictures = []
    for png in pngs:
        with Image.open(io.BytesIO(png)) as opened:
            pictures.append(opened.convert("RGB"))
    buffer = io.BytesIO()
    make_grid(pictures).save(buffer, format="PNG")
    return buffer.getvalue()


def repeat_png(png: bytes, times: int = 2) -> bytes:
    """The picture repeated ``times`` × ``times`` as one PNG: how a seamless tile is shown, so a
    seam, if there were one, would run through the middle."""
    with Image.open(io.BytesIO(png)) as opened:
        tile = opened.convert("RGB")
    sheet = Image.new("RGB", (tile.width * times, tile.height * times))
    for row in range(times):
        for column in range(times):
            sheet.paste(tile, (column * tile.width, row * tile.height))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
