"""The intersection matrix: every feature against every other, each cell a real job and a button.

Dimensions (``DIMENSIONS``; each value is the ``ImagineOptions`` it sets, so **adding a dimension
is one line**: a name and its values' options, e.g. ``"lora": {"none": {}, "ink": {"lora":
"ink"}}``; a feature whose value is not an option also adds its own setup in ``_prepare``):

- family: tiny SD 1.x, tiny SD 2.x (v-prediction, Euler a), tiny SDXL (Euler), tiny FLUX.1-dev
  layout, tiny SD 3.5 layout;
- prompt feature: plain, A1111 weights, wildcards, prompt editing, alternation, BREAK/AND, a
  100-word prompt (two CLIP windows), a guild preset with its own steps, cfg, scheduler and aspect;
- count 1 or 4; aspect 1:1, 16:9 (landscape), 2:3 (portrait);
- adapter: none, the family's built-in LoRA (``lora`` option), ``draft`` (the family's few-step
  entry; its U buttons repaint with the full model; SD 2.x has no draft: a refusal on ``draft``);
- input: none, a member's picture (``image``: img2img at its shape; V buttons repaint the
  chosen result), a seamless ``tile`` (FLUX.1 and SD 3.5: a refusal on ``tile``);
- guide: none, a style reference (``sref``), a character reference (``cref``), a ControlNet
  picture (``control``, canny), lineart control together with a style reference (SD 2.x has no
  IP-Adapter and FLUX.1/SD 3.5 no ControlNet or IP-Adapter in the catalog: refusals on
  ``sref``/``cref``/``control_mode``);
- the button (``ACTIONS``): U1–U4, V subtle, V strong (of the last image), reroll, remix, and
  the masked edits zoom out ×2, pan ⬅️ and vary region (inpainting with the family's inpainting
  checkpoint or its own pipeline; the kept part of the picture must stay pixel for pixel).

The full product is 5 × 8 × 2 × 3 × 3 × 3 × 5 × 11 = 118800 cells; ``CELLS`` samples it
deterministically: an all-pairs covering design (allpairspy: every pair of values of any two
dimensions occurs in some cell) plus ``RANDOM_CELLS`` more drawn from the full product
with a fixed seed, so a failure names a cell that fails again on every run. Each cell runs
through studio (submit, then derive or remix, with their events) on the real queue and the tiny
engines at 64² and 2 steps, and must end in a delivered result or in a refusal that names the
field and the reason (the refusals expected: a button for an image a 1-image job does not have,
``draft`` on SD 2.x, ``tile`` on FLUX.1 and SD 3.5, a guide the family has none for);
never the generic error, never a traceback in the log. A sampled subset also runs through the
bot in the loopback Discord
(``tests/bot/test_matrix_buttons.py``).
"""

from __future__ import annotations

import io
import logging
import math
import random
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import pytest
from allpairspy import AllPairs
from PIL import Image, ImageDraw

from studio import Finished, ImagineOptions, JobRecord, Requester, Studio
from studio.errors import FIELD_ERRORS
from studio.image_inputs import read_picture
from tests.studio.conftest import outcome


def _landscape_png() -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((96, 64)).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


HUNDRED_WORDS = " ".join(
    ["a lighthouse on a cliff above a stormy sea at dusk, with gulls and spray"] * 7
    + ["oil painting"]
)


def guide_png() -> bytes:
    """A sketch: a black outline on white (what sref, cref and control are given)."""
    picture = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(picture).rectangle((10, 10, 50, 50), outline="black", width=3)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


GUIDE_PICTURE = read_picture(guide_png(), field="sref")
MATRIX_PRESET: dict[str, Any] = {
    "name": "matrix-style",
    "positive": "matrix style art of {prompt}, bold colours",
    "negative": "dull",
    "steps": 1,
    "cfg": 5.0,
    "scheduler": "Euler a",
    "aspect": "16:9",
}

PICTURE = read_picture(_landscape_png(), field="image")
"""A member's 3:2 picture: the ``image`` input value paints from it (img2img)."""
DIMENSIONS: dict[str, dict[str, dict[str, Any]]] = {
    "family": {
        "sd1": {"model": "tiny"},
        "sd2-v": {"model": "tiny-sd2"},
        "sdxl": {"model": "tiny-xl"},
        "flux": {"model": "tiny-flux"},
        "sd3": {"model": "tiny-sd3"},
    },
    "feature": {
        "plain": {"prompt": "a lighthouse on a cliff"},
        "a1111-weights": {"prompt": "a (lighthouse:1.3) on a [cliff], ((storm)), (sea:0.8)"},
        "wildcards": {"prompt": "a {red|blue|green|white} lighthouse on a cliff"},
        "prompt-editing": {"prompt": "a [lighthouse:windmill:1] on a cliff"},
        "alternation": {"prompt": "a [lighthouse|windmill] on a cliff"},
        "break-and": {"prompt": "a lighthouse BREAK a stormy sea AND a night sky :0.8"},
        "100-words": {"prompt": HUNDRED_WORDS},
        "preset-settings": {"prompt": "a lighthouse", "style": MATRIX_PRESET["name"]},
    },
    "count": {"1": {"count": 1}, "4": {"count": 4}},
    "aspect": {"1:1": {"aspect": "1:1"}, "16:9": {"aspect": "16:9"}, "2:3": {"aspect": "2:3"}},
    "adapter": {"none": {}, "lora": {}, "draft": {"draft": True}},  # lora: FAMILY_LORA's
    "input": {"none": {}, "image": {"image": PICTURE}, "tile": {"tile": True}},
    "guide": {
        "none": {},
        "sref": {"sref": GUIDE_PICTURE},
        "cref": {"cref": GUIDE_PICTURE},
        "canny": {"control": GUIDE_PICTURE},
        "lineart+sref": {
            "control": GUIDE_PICTURE,
            "control_mode": "lineart:0.7",
            "sref": GUIDE_PICTURE,
        },
    },
}
NO_IP_ADAPTER = {"sd2-v", "flux", "sd3"}
NO_CONTROLNET = {"flux", "sd3"}
FAMILY_LORA = {
    "sd1": "tiny-lora",
    "sd2-v": "tiny-sd2-lora",
    "sdxl": "tiny-xl-lora",
    "flux": "tiny-flux-lora",
    "sd3": "tiny-sd3-lora",
}
ACTIONS: dict[str, tuple[str, int | None]] = {
    "U1": ("upscale", 0),
    "U2": ("upscale", 1),
    "U3": ("upscale", 2),
    "U4": ("upscale", 3),
    "V-subtle": ("vary_subtle", -1),  # -1: the job's last image
    "V-strong": ("vary_strong", -1),
    "reroll": ("reroll", None),
    "remix": ("remix", None),
    "zoom-2": ("zoom_out_2", 0),  # masked edits (inpainting) of one image
    "pan-left": ("pan_left", -1),
    "vary-region": ("vary_region", -1),  # the center, from the image's own prompt
}
MASKED = ("zoom_out_2", "pan_left", "vary_region")
RANDOM_CELLS = 12
MEMBER = Requester(user_id=1, guild_id=10, channel_id=100)
ADMIN = Requester(user_id=99, guild_id=10, channel_id=100, manage_guild=True)


@dataclass(frozen=True)
class Cell:
    values: tuple[str, ...]  # one value per dimension, in DIMENSIONS' order
    action: str
    seed: int

    def __str__(self) -> str:
        return "-".join([*self.values, self.action])

    def value(self, dimension: str) -> str:
        return self.values[list(DIMENSIONS).index(dimension)]

    def options(self) -> ImagineOptions:
        fields: dict[str, Any] = {"seed": self.seed}
        for dimension, value in zip(DIMENSIONS.values(), self.values, strict=True):
            fields.update(dimension[value])
        if self.value("adapter") == "lora":
            fields["lora"] = FAMILY_LORA[self.value("family")]
        return ImagineOptions(**fields)

    @property
    def count(self) -> int:
        return int(self.options().count or 1)


def sample() -> list[Cell]:
    """The all-pairs cells, then the seeded random ones not among them."""
    axes = [list(values) for values in DIMENSIONS.values()] + [list(ACTIONS)]
    chosen = [tuple(row) for row in AllPairs(axes)]
    everything = list(product(*axes))
    for row in random.Random(11).sample(everything, len(everything)):
        if len(chosen) >= len(everything) or len(chosen) >= 64 + RANDOM_CELLS:
            break
        if row not in chosen:
            chosen.append(row)
    return [Cell(tuple(row[:-1]), row[-1], seed=number) for number, row in enumerate(chosen)]


CELLS = sample()


def submit_refusal(cell: Cell) -> str | None:
    """The field a cell's /imagine must be refused on (no SD 2.x draft; a guide the family has
    none for in the catalog; no FLUX.1/SD 3.5 tile), or None."""
    family, guide = cell.value("family"), cell.value("guide")
    if cell.value("adapter") == "draft" and family == "sd2-v":
        return "draft"
    if cell.value("input") == "tile" and family in ("flux", "sd3"):
        return "tile"
    references = [option for option in ("sref", "cref") if option in guide]
    if references and family in NO_IP_ADAPTER:  # references are checked before the control
        return references[0]
    controlled = "canny" in guide or "lineart" in guide
    return "control_mode" if controlled and family in NO_CONTROLNET else None


def expected_refusal(cell: Cell) -> str | None:
    """The field a cell must be refused on, or None when it must deliver."""
    _, index = ACTIONS[cell.action]
    button = "index" if index is not None and index >= cell.count else None
    return submit_refusal(cell) or button


async def prepare(studio: Studio) -> None:
    """What some values need beyond their options: the guild's own preset."""
    await studio.settings.add_preset(ADMIN, MATRIX_PRESET)


async def run_cell(studio: Studio, cell: Cell) -> str:
    """The cell's job and its button; "delivered" or "refused:<field>" (anything else fails)."""
    try:
        base = await studio.submit(cell.options(), MEMBER)
    except FIELD_ERRORS as exc:
        field, message = getattr(exc, "field", ""), getattr(exc, "message", "")
        assert field and message, f"{cell}: a refusal without a field or a reason: {exc!r}"
        return f"refused:{field}"
    event = await outcome(studio, base)
    assert isinstance(event, Finished), f"{cell}: the job ended in {event}"
    job = event.job
    assert len(job.images) == cell.count
    full = studio.planner.full_model(job.request)  # a draft's full model
    assert (full is not None) == (cell.value("adapter") == "draft")
    if cell.value("adapter") == "lora":
        assert [lora.name for lora in job.request.loras] == [FAMILY_LORA[cell.value("family")]]
    guide = cell.value("guide")
    assert [r.kind for r in job.request.references] == (
        ["style"] if "sref" in guide else ["character"] if guide == "cref" else []
    )
    assert (job.request.control is not None) == ("canny" in guide or "lineart" in guide)
    unet = cell.value("family") in ("sd1", "sd2-v", "sdxl")
    if cell.options().style and full is None:  # the preset's own settings, below the member's
        steps = MATRIX_PRESET["steps"]
        if cell.value("input") == "image":  # img2img paints steps × strength: at least one
            steps = max(steps, math.ceil(1 / job.request.strength))
        assert job.request.steps == steps
        if unet:  # FLUX.1 has no CFG scale; flow models sample with Euler only
            assert job.request.guidance == 5.0
            assert job.request.scheduler == MATRIX_PRESET["scheduler"]
    action, index = ACTIONS[cell.action]
    if index == -1:
        index = cell.count - 1
    try:
        if action == "remix":
            prompt = studio.remix_prompt(job) + ", at dusk"
            derived = await studio.remix(job.job_id, prompt, MEMBER)
        elif action == "vary_region":
            prompt = studio.remix_prompt(job)
            derived = await studio.vary_region(job.job_id, index or 0, "center", prompt, MEMBER)
        else:
            derived = await studio.derive(job.job_id, action, index, MEMBER)  # type: ignore[arg-type]
    except FIELD_ERRORS as exc:
        field, message = getattr(exc, "field", ""), getattr(exc, "message", "")
        assert field and message, f"{cell}: a refusal without a field or a reason: {exc!r}"
        return f"refused:{field}"
    event = await outcome(studio, derived)
    assert isinstance(event, Finished), f"{cell}: the {cell.action} ended in {event}"
    made = event.job
    assert made.images, f"{cell}: nothing delivered"
    if action == "upscale" and full is not None:  # a draft: repainted by the full model
        assert made.request.mode == job.request.mode and made.request.model == full.name
        assert made.images[0].seed == job.images[index or 0].seed
    elif action == "upscale":
        assert made.request.mode == "upscale" and len(made.images) == 1
    if action in ("vary_subtle", "vary_strong"):
        assert made.images[0].seed == job.images[index or 0].seed
    if action in MASKED:
        assert made.request.mode == "inpaint" and len(made.images) == 1
        kept_as_it_was(studio, made)
    if cell.value("input") == "image":  # painted from the picture, at its shape
        assert job.request.mode == "img2img"
        assert job.request.init_image_sha256 == PICTURE.sha256
        if action in ("reroll", "remix"):
            assert made.request.init_image_sha256 == PICTURE.sha256
    # A zoomed, panned or repainted picture is no longer a seamless tile.
    assert made.request.tile == (cell.value("input") == "tile" and action not in MASKED)
    return "delivered"


def kept_as_it_was(studio: Studio, made: JobRecord) -> None:
    """A masked edit's result equals its canvas outside the mask, pixel for pixel."""
    request = made.request
    canvas = studio.queue.store.inputs.get(request.init_image_sha256 or "")
    kept = np.asarray(Image.open(io.BytesIO(request.mask_image or b"")).convert("L")) == 0
    before = np.asarray(Image.open(io.BytesIO(canvas)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(made.images[0].png)).convert("RGB"))
    assert kept.any() and np.array_equal(after[kept], before[kept])


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, "\n".join(f"{r.name}: {r.getMessage()}" for r in bad)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS, ids=str)
async def test_every_cell_delivers_or_is_refused_by_name(
    studio: Studio, cell: Cell, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await prepare(studio)
    ended = await run_cell(studio, cell)
    refusal = expected_refusal(cell)
    assert ended == (f"refused:{refusal}" if refusal else "delivered"), str(cell)
    no_tracebacks(caplog)


def test_the_sample_covers_every_pair_of_values() -> None:
    """The all-pairs promise, checked: any two dimensions' values meet in some cell."""
    rows = [(*cell.values, cell.action) for cell in CELLS]
    axes = [list(values) for values in DIMENSIONS.values()] + [list(ACTIONS)]
    for first, second in ((i, j) for i in range(len(axes)) for j in range(i + 1, len(axes))):
        met = {(row[first], row[second]) for row in rows}
        assert met == set(product(axes[first], axes[second]))
    assert len(set(rows)) == len(rows) > 64
