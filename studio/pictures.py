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
