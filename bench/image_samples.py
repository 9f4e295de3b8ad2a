"""Benign images that ship inside installed packages, for measuring the image check's false alarms.

Real photographs and graphics from scikit-image (``skimage.data``: an astronaut, a cat, coffee,
coins, a colour wheel, a rocket, text, 200 faces, …) and matplotlib's sample data (Grace Hopper,
logos), plus colour-map renders of smooth functions drawn with matplotlib (the kind of abstract
gradient art people generate). Nothing is downloaded; no explicit material is used, ever.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

SKIMAGE_SAMPLES = (
    "astronaut", "brick", "camera", "cat", "checkerboard", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry",
    "logo", "microaneurysms", "moon", "page", "text", "retina", "rocket", "cell",
)  # fmt: skip


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def package_images(faces: int = 20) -> Iterator[tuple[str, Image.Image]]:
    """``(name, image)`` for the photographs and graphics shipped in scikit-image and matplotlib."""
    import matplotlib
    import skimage.data

    for name in SKIMAGE_SAMPLES:
        yield f"skimage.{name}", Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    people = skimage.data.lfw_subset()  # 200 small grey faces
    step = max(1, len(people) // max(1, faces))
    for i in range(0, len(people), step)[:faces]:
        face = Image.fromarray((people[i] * 255).astype(np.uint8)).convert("RGB")
        yield f"skimage.lfw_subset[{i}]", face.resize((200, 200))
    sample_data = Path(matplotlib.get_data_path()) / "sample_data"
    for path in sorted(sample_data.glob("*.png")) + sorted(sample_data.glob("*.jpg")):
        yield f"matplotlib.{path.name}", Image.open(path).convert("RGB")


def colormap_renders(quick: bool = False, side: int = 320) -> Iterator[tuple[str, Image.Image]]:
    """Smooth functions drawn with every matplotlib colour map (abstract gradient art)."""
    import matplotlib

    x = np.linspace(-1, 1, side)
    grid_x, grid_y = np.meshgrid(x, x)
    fields = {
        "waves": np.sin(3 * grid_x) * np.cos(3 * grid_y) + grid_x * grid_y,
        "radial": np.hypot(grid_x, grid_y),
        "angle": np.arctan2(grid_y, grid_x),
        "gauss": np.exp(-(grid_x**2 + grid_y**2) * 3),
    }
    names = [n for n in sorted(matplotlib.colormaps) if not n.endswith("_r")]
    if quick:
        names = names[::4]
    for name in names:
        colormap = matplotlib.colormaps[name]
        for field_name, field in fields.items():
            scaled = (field - field.min()) / (field.max() - field.min())
            rgb = (colormap(scaled)[:, :, :3] * 255).astype(np.uint8)
            yield f"{name}/{field_name}", Image.fromarray(rgb)
