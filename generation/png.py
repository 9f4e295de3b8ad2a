"""PNG files that carry their settings the way AUTOMATIC1111 writes them, and batch grids.

The ``parameters`` text chunk is what A1111's "PNG Info" tab and ComfyUI read, so a user can drop
an image from Discord into either tool and get prompt, seed and settings back::

    a red fox in the snow
    Negative prompt: blurry
    Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.0, Seed: 42, Size: 512x512, Model: tiny
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PARAMETERS_KEY = "parameters"
COMPEL_KEY = "compel"
"""Muralist's own chunk: the compel text the model got (JSON), beside A1111's ``parameters``."""
NEGATIVE_PREFIX = "Negative prompt:"

# A1111's own pattern for one "Key: value" pair of the settings line (values may be JSON-quoted).
_PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def format_parameters(prompt: str, negative_prompt: str, settings: Mapping[str, Any]) -> str:
    """A1111's text: the prompt, ``Negative prompt: …`` when there is one, then the settings.

    Settings whose value is None are left out; a value holding ``,``, ``:`` or ``"`` is quoted
    as JSON, as A1111 does, so the line still splits into pairs.
    """
    pairs = []
    for key, value in settings.items():
        if value is None:
            continue
        text = str(value)
        if any(char in text for char in ',:"\n'):
            text = json.dumps(text, ensure_ascii=False)
        pairs.append(f"{key}: {text}")
    lines = [prompt]
    if negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {negative_prompt}")
    lines.append(", ".join(pairs))
    return "\n".join(lines)


@dataclass
class Parameters:
    prompt: str
    negative_prompt: str = ""
    settings: dict[str, str] = field(default_factory=dict)


def parse_parameters(text: str) -> Parameters:
    """Read A1111's ``parameters`` text back (the inverse of ``format_parameters``)."""
    *head, last = text.strip("\n").split("\n")
    pairs = _PAIR.findall(last)
    if len(pairs) < 3:  # A1111's rule: no settings line, the whole text is prompt
        head, pairs = [*head, last], []
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    for line in head:
        if line.startswith(NEGATIVE_PREFIX) and not negative_lines:
            negative_lines.append(line[len(NEGATIVE_PREFIX) :].strip())
        elif negative_lines:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    settings = {}
    for key, value in pairs:
        if value.startswith('"') and value.endswith('"'):
            value = json.loads(value)
        settings[key.strip()] = value.strip()
    return Parameters("\n".join(prompt_lines), "\n".join(negative_lines), settings)


def encode_png(
    image: Any, parameters: str | None = None, extra: Mapping[str, str] | None = None
) -> bytes:
    """PNG bytes of a PIL image, with the ``parameters`` text chunk when given and one text
    chunk per ``extra`` key (e.g. ``compel``)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if parameters is not None:
        info.add_text(PARAMETERS_KEY, parameters)
    for key, value in (extra or {}).items():
        info.add_text(key, value)  # as iTXt (UTF-8) when it is not Latin-1
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_parameters(png: bytes, key: str = PARAMETERS_KEY) -> str | None:
    """The ``parameters`` text (or another text chunk's) of PNG bytes, None when it has none."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        value = image.info.get(key)
    return value if isinstance(value, str) else None


def make_grid(images: Sequence[Any]) -> Any:
    """One image laying ``images`` out in rows: 2×1 for two, 2×2 for three or four.

    Cells take the first image's size (a batch shares it); an empty cell stays black.
    """
    from PIL import Image

    if not images:
        raise ValueError("a grid needs at least one image")
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    width, height = images[0].size
    grid = Image.new("RGB", (columns * width, rows * height))
    for index, image in enumerate(images):
        grid.paste(image, ((index % columns) * width, (index // columns) * height))
    return grid
