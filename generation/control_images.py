"""ControlNet preprocessors on the CPU with OpenCV: no model, no download.

``canny``: the picture's edges (OpenCV's Canny, thresholds 100/200 as the ControlNet 1.1 canny
model was trained with), white on black. ``lineart``: drawn lines, for sketches and scribbles as
well as photos: a light blur, then an adaptive threshold that keeps dark strokes against their
neighbourhood, dilated a little so thin pencil lines survive the resize, white on black as the
lineart and scribble ControlNets expect. (The annotators of ControlNet 1.1, ``lineart`` and
``scribble_hed``, are neural networks; this is their model-free stand-in, close for drawings and
coarser for photos.) Both run at the output size, so the condition lines up with the latents.
"""

from __future__ import annotations

import io
from typing import Any

from generation.requests import ControlMode

CANNY_LOW = 100
CANNY_HIGH = 200


def control_picture(png: bytes, mode: ControlMode, width: int, height: int) -> Any:
    """The condition image (a PIL RGB image of ``width`` × ``height``) for ``mode``."""
    import cv2
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as opened:
        picture = opened.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    gray = cv2.cvtColor(np.asarray(picture), cv2.COLOR_RGB2GRAY)
    if mode == "canny":
        lines = cv2.Canny(gray, CANNY_LOW, CANNY_HIGH)
    else:
        blurred = cv2.GaussianBlur(gray, (3, 3), 0)
        lines = cv2.adaptiveThreshold(
            blurred, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 11, 8
        )
        lines = cv2.dilate(lines, np.ones((2, 2), np.uint8))
    return Image.fromarray(cv2.cvtColor(lines, cv2.COLOR_GRAY2RGB))
