from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from safety.images import ImageChecker
from safety.prompt_filter import PromptFilter


@pytest.fixture(scope="session")
def prompt_filter() -> PromptFilter:
    return PromptFilter()


@pytest.fixture(scope="session")
def image_checker() -> ImageChecker:
    """The real checker with NudeNet's bundled detector."""
    return ImageChecker()


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build of the built-in tiny model per test run."""
    return tmp_path_factory.mktemp("tiny-models")


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def noise_png(size: int = 128, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return png(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)))
