"""Decoding the engine's PNGs for pixel comparisons in tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def pixels(png: bytes) -> np.ndarray:
    """The RGB pixels of PNG bytes."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
