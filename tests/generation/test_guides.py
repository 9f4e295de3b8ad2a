"""Style/character references (tiny IP-Adapters) and ControlNet (tiny ControlNets) on the engine."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.control_images import control_picture
from generation.engine import DiffusersEngine
from generation.errors import InvalidRequest
from generation.png import parse_parameters
from generation.requests import ControlImage, GenerationRequest, ReferenceImage
from tests.generation.pixels import pixels

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 3, "seed": 7}
UNET_MODELS = [("tiny", {}), ("tiny-xl", {"scheduler": "Euler"})]


def drawing(shape: str = "square", size: int = 96) -> bytes:
    """A black shape on white, as a PNG (a sketch a member might attach)."""
    picture = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(picture)
    if shape == "square":
        draw.rectangle((20, 20, 70, 70), outline="black", width=3)
    elif shape == "circle":
        draw.ellipse((10, 30, 86, 80), fill=(200, 40, 40), outline="black", width=3)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def reference(kind: str, weight: float = 1.0, shape: str = "circle") -> ReferenceImage:
    png = drawing(shape)
    return ReferenceImage(kind=kind, png=png, sha256=hashlib.sha256(png).hexdigest(), weight=weight)  # type: ignore[arg-type]


def control(mode: str, scale: float = 1.0, shape: str = "square") -> ControlImage:
    png = drawing(shape)
    return ControlImage(mode=mode, png=png, sha256=hashlib.sha256(png).hexdigest(), scale=scale)  # type: ignore[arg-type]


def paint(engine: DiffusersEngine, **fields: Any) -> np.ndarray:
    [result] = engine.generate([GenerationRequest(**{"prompt": "a red fox", **SMALL, **fields})])
    return pixels(result.images[0].png)


@pytest.mark.parametrize(("model", "extra"), UNET_MODELS)
def test_each_reference_changes_the_image_and_weight_zero_equals_none(
    engine: DiffusersEngine, model: str, extra: dict[str, Any]
) -> None:
    plain = paint(engine, model=model, **extra)
    style = paint(engine, model=model, references=[reference("style")], **extra)
    character = paint(engine, model=model, references=[reference("character")], **extra)
    both = paint(
        engine, model=model, references=[reference("style"), reference("character")], **extra
    )
    other = paint(engine, model=model, references=[reference("style", shape="square")], **extra)
    images = [plain, style, character, both, other]
    assert len({image.tobytes() for image in images}) == len(images)
    zero = [reference("style", 0.0), reference("character", 0.0)]
    assert np.array_equal(plain, paint(engine, model=model, references=zero, **extra))


def test_a_reference_job_leaves_no_state_for_the_next_job(engine: DiffusersEngine) -> None:
    before = paint(engine)
    for _ in range(2):
        assert not np.array_equal(before, paint(engine, references=[reference("character")]))
        assert np.array_equal(before, paint(engine))


def test_consecutive_reference_jobs_load_the_adapter_once(engine: DiffusersEngine) -> None:
    paint(engine)
    first = paint(engine, references=[reference("style", 0.8)])
    again = paint(engine, references=[reference("style", 0.8)])
    assert np.array_equal(first, again) and engine.guides.ip_loads == 1


def test_a_style_reference_weighs_only_instantstyles_blocks(engine: DiffusersEngine) -> None:
    """InstantStyle: the style reference acts through the catalog's style block alone."""
    paint(engine, references=[reference("style", 0.5)])
    unet = engine.loader.get("tiny").pipe.unet
    scales = {
        name: processor.scale[0]
        for name, processor in unet.attn_processors.items()
        if hasattr(processor, "scale")
    }
    assert scales["up_blocks.0.attentions.1.transformer_blocks.0.attn2.processor"] == 0.5
    assert {v for k, v in scales.items() if "up_blocks.0.attentions.1" not in k} == {0.0}


@pytest.mark.parametrize(
    ("model", "extra"), [*UNET_MODELS, ("tiny-sd2", {"width": 96, "height": 96})]
)
@pytest.mark.parametrize("mode", ["canny", "lineart"])
def test_each_control_changes_the_image_and_scale_zero_equals_none(
    engine: DiffusersEngine, model: str, extra: dict[str, Any], mode: str
) -> None:
    plain = paint(engine, model=model, **extra)
    guided = paint(engine, model=model, control=control(mode), **extra)
    other = paint(engine, model=model, control=control(mode, shape="circle"), **extra)
    half = paint(engine, model=model, control=control(mode, 0.5), **extra)
    assert len({image.tobytes() for image in (plain, guided, other, half)}) == 4
    assert np.array_equal(plain, paint(engine, model=model, control=control(mode, 0.0), **extra))


def test_control_and_references_work_together_and_on_img2img(engine: DiffusersEngine) -> None:
    together = paint(engine, control=control("canny"), references=[reference("style")])
    assert not np.array_equal(together, paint(engine, control=control("canny")))
    start = drawing("circle")
    plain = paint(engine, mode="img2img", init_image=start, strength=0.7)
    guided = paint(
        engine, mode="img2img", init_image=start, strength=0.7, control=control("lineart")
    )
    assert not np.array_equal(plain, guided)
    upscaled = paint(
        engine, mode="upscale", init_image=start, control=control("canny"), references=[]
    )
    assert upscaled.shape[:2] == (128, 128)


def test_the_png_parameters_name_each_guide(engine: DiffusersEngine) -> None:
    ref, guide = reference("character", 0.7), control("canny", 0.5)
    [result] = engine.generate(
        [GenerationRequest(prompt="a fox", references=[ref], control=guide, **SMALL)]
    )
    settings = parse_parameters(result.images[0].parameters).settings
    assert settings["IP-Adapter character"] == (
        f"Model: tiny-ip-adapter, Weight: 0.7, Image hash: {ref.sha256[:12]}"
    )
    assert settings["ControlNet 0"].startswith("Module: canny, Model: tiny-canny, Weight: 0.5")


@pytest.mark.parametrize(
    ("model", "fields", "field"),
    [
        ("tiny-sd2", {"references": [reference("style")]}, "sref"),
        ("tiny-sd2", {"references": [reference("character")]}, "cref"),
        ("tiny-flux", {"control": control("canny"), "scheduler": "Euler"}, "control"),
        ("tiny-sd3", {"references": [reference("style")], "scheduler": "Euler"}, "sref"),
    ],
)
def test_a_family_without_the_guide_is_refused_naming_the_option(
    engine: DiffusersEngine, model: str, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([GenerationRequest(prompt="a fox", model=model, **{**SMALL, **fields})])
    assert caught.value.field == field


def test_guides_keep_batches_apart_and_cross_json_whole() -> None:
    plain = GenerationRequest(prompt="a fox", **SMALL)
    styled = GenerationRequest(prompt="a fox", references=[reference("style")], **SMALL)
    lighter = GenerationRequest(prompt="a fox", references=[reference("style", 0.5)], **SMALL)
    guided = GenerationRequest(prompt="a fox", control=control("canny"), **SMALL)
    assert len({r.batch_key() for r in (plain, styled, lighter, guided)}) == 4
    both = GenerationRequest(
        prompt="a fox", references=[reference("style")], control=control("lineart"), **SMALL
    )
    assert GenerationRequest.model_validate_json(both.model_dump_json()) == both
    with pytest.raises(ValueError, match="at most one style"):
        GenerationRequest(prompt="a", references=[reference("style"), reference("style")])


def test_canny_finds_the_outline_and_lineart_the_strokes() -> None:
    edges = np.asarray(control_picture(drawing("square"), "canny", 96, 96))
    lines = np.asarray(control_picture(drawing("square"), "lineart", 96, 96))
    for condition in (edges, lines):
        assert condition.shape == (96, 96, 3)
        assert condition[45, 45].max() == 0 and condition[5, 5].max() == 0  # inside, outside
        assert condition[18:24, 45].max() == 255  # the square's top side
    blank = np.asarray(control_picture(drawing("blank"), "canny", 64, 48))
    assert blank.shape == (48, 64, 3)


def test_a_masked_edit_with_a_guide_is_refused_naming_it(engine: DiffusersEngine) -> None:
    mask = drawing("square")
    with pytest.raises(InvalidRequest) as caught:
        engine.generate(
            [
                GenerationRequest(
                    prompt="a fox",
                    mode="inpaint",
                    init_image=drawing("circle"),
                    mask_image=mask,
                    strength=0.9,
                    control=control("canny"),
                    **SMALL,
                )
            ]
        )
    assert caught.value.field == "control" and "masked edits" in caught.value.message
