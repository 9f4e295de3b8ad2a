"""Masked edits (zoom out, pan, vary region) on the engine: the masked part is painted again,
everything outside the mask is the original's pixels exactly, and the tiny inpainting checkpoint
(a 9-channel UNet) is built, saved and loaded through the catalog like a real one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from generation import masks, schedulers
from generation.catalog import Catalog, CatalogError
from generation.engine import DiffusersEngine
from generation.errors import InvalidRequest
from generation.loading import PipelineLoader
from generation.png import parse_parameters, read_parameters
from generation.requests import GenerationRequest
from tests.generation.pixels import pixels

SIDE = 64


def png_of(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def left_half_mask(width: int = SIDE, height: int = SIDE) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (0, 0, width // 2, height))
    return mask


def start_picture(engine: DiffusersEngine, model: str, scheduler: str) -> bytes:
    request = GenerationRequest(
        prompt="a harbour",
        model=model,
        width=SIDE,
        height=SIDE,
        steps=3,
        seed=7,
        scheduler=scheduler,
    )
    return engine.generate([request])[0].images[0].png


def inpaint_request(model: str, init: bytes, mask: Image.Image, **extra: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "prompt": "a lighthouse",
        "model": model,
        "width": SIDE,
        "height": SIDE,
        "steps": 3,
        "seed": 11,
        "mode": "inpaint",
        "init_image": init,
        "mask_image": png_of(mask),
        "strength": 1.0,
    }
    return GenerationRequest(**(fields | extra))


@pytest.mark.parametrize(
    ("model", "scheduler"),
    [
        ("tiny", "DPM++ 2M Karras"),  # its catalog twin tiny-inpaint: a 9-channel UNet
        ("tiny-sd2", "Euler a"),  # no twin: the model itself through AutoPipelineForInpainting
        ("tiny-xl", "Euler"),
        ("tiny-flux", "Euler"),
        ("tiny-sd3", "Euler"),
    ],
)
def test_the_masked_half_is_painted_again_and_the_other_half_kept_exactly(
    engine: DiffusersEngine, model: str, scheduler: str
) -> None:
    init = start_picture(engine, model, scheduler)
    [result] = engine.generate(
        [inpaint_request(model, init, left_half_mask(), scheduler=scheduler)]
    )
    before, after = pixels(init).astype(int), pixels(result.images[0].png).astype(int)
    half = SIDE // 2
    assert np.array_equal(after[:, half:], before[:, half:])
    assert np.abs(after[:, : half - 4] - before[:, : half - 4]).mean() > 5
    assert result.images[0].width == SIDE and result.images[0].height == SIDE


def test_tiny_paints_masked_edits_with_its_nine_channel_checkpoint_from_the_catalog(
    engine: DiffusersEngine, loader: PipelineLoader
) -> None:
    assert loader.catalog.inpainter("tiny").name == "tiny-inpaint"
    assert "tiny-inpaint" not in loader.catalog.names()  # not offered as a model to paint with
    inpainter = loader.get("tiny-inpaint")
    assert type(inpainter.pipe).__name__ == "StableDiffusionInpaintPipeline"
    assert inpainter.pipe.unet.config.in_channels == 9
    assert inpainter.inpaint() is inpainter.pipe
    assert loader.get("tiny-sd2").inpaint().unet.config.in_channels == 4


def test_the_engine_equals_a_plain_inpainting_call_blended_through_the_soft_mask(
    engine: DiffusersEngine, loader: PipelineLoader
) -> None:
    init = start_picture(engine, "tiny", "DPM++ 2M Karras")
    mask = left_half_mask()
    [result] = engine.generate([inpaint_request("tiny", init, mask, guidance=6.0)])
    pipe = loader.get("tiny-inpaint").pipe
    saved = pipe.scheduler
    pipe.scheduler = schedulers.build("DPM++ 2M Karras", saved.config)
    original = Image.open(io.BytesIO(init)).convert("RGB")
    try:
        painted = pipe(
            prompt="a lighthouse",
            image=original,
            mask_image=mask,
            width=SIDE,
            height=SIDE,
            num_inference_steps=3,
            guidance_scale=6.0,
            strength=1.0,
            generator=torch.Generator("cpu").manual_seed(11),
        ).images[0]
    finally:
        pipe.scheduler = saved
    soft = masks.soft_mask(mask, masks.feather_for(SIDE, SIDE))
    expected = np.asarray(masks.blend(painted, original, soft))
    assert np.abs(pixels(result.images[0].png).astype(int) - expected.astype(int)).max() <= 1
    fields = parse_parameters(read_parameters(result.images[0].png) or "").settings
    assert fields["Model"] == "tiny" and fields["Denoising strength"] == "1.0"
    assert fields["Mask blur"] == str(masks.feather_for(SIDE, SIDE))


def test_the_seam_fades_inside_the_mask_and_never_reaches_outside_it() -> None:
    mask = Image.new("L", (128, 128), 0)
    mask.paste(255, (32, 32, 96, 96))
    soft = np.asarray(masks.soft_mask(mask, 8)).astype(int)
    hard = np.asarray(mask).astype(int)
    assert not soft[hard == 0].any()  # nothing outside the mask changes
    assert soft[64, 64] == 255  # deep inside: all painted
    ramp = soft[64, 32:50]
    assert ramp[0] < 40 and ramp[-1] == 255 and np.all(np.diff(ramp) >= 0)  # a rising ramp
    border = Image.new("L", (128, 128), 0)
    border.paste(255, (0, 0, 24, 128))  # a left border band, as a pan left makes
    assert np.asarray(masks.soft_mask(border, 8))[:, 0].min() == 255  # no ramp at the edge


def test_bad_masks_and_mode_mixups_are_one_error_naming_the_field(
    engine: DiffusersEngine,
) -> None:
    init = start_picture(engine, "tiny", "DPM++ 2M Karras")
    black = Image.new("L", (SIDE, SIDE), 0)
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([inpaint_request("tiny", init, black)])
    assert caught.value.field == "mask_image" and "all black" in str(caught.value)
    broken = inpaint_request("tiny", init, left_half_mask()).model_copy(
        update={"mask_image": b"not a picture"}
    )
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([broken])
    assert caught.value.field == "mask_image"
    with pytest.raises(InvalidRequest) as caught:
        engine.generate(
            [GenerationRequest(prompt="a cat", model="tiny-inpaint", width=64, height=64)]
        )
    assert caught.value.field == "model" and "masked edits only" in str(caught.value)
    with pytest.raises(ValueError, match="mask_image"):
        GenerationRequest(prompt="a cat", mode="img2img", init_image=init, mask_image=init)
    with pytest.raises(ValueError, match="mask_image"):
        GenerationRequest(prompt="a cat", mode="inpaint", init_image=init)


def test_the_catalog_maps_real_inpainting_checkpoints_per_family() -> None:
    catalog = Catalog.load()
    assert catalog.inpainter("sd15").hub == "stable-diffusion-v1-5/stable-diffusion-inpainting"
    assert catalog.inpainter("sd21").hub == "stabilityai/stable-diffusion-2-inpainting"
    assert catalog.inpainter("sdxl").hub == "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"
    assert catalog.inpainter("flux-dev").name == "flux-dev"  # its own pipeline inpaints
    assert catalog.inpainter("openjourney").name == "openjourney"  # a fine-tune keeps its style
    for spec in catalog:
        twin = catalog.inpainter(spec.name)
        assert twin.family == spec.family and (twin is spec or twin.inpainting)


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[models.d]\nbuiltin = "tiny"\nfamily = "sd1"\ninpaint = "tiny"\n', "inpaint"),
        ('[models.d]\nbuiltin = "tiny"\nfamily = "sd1"\ninpaint = "sdxl-inpainting"\n', "sd1"),
        (
            '[models.d]\nbuiltin = "tiny-inpaint"\nfamily = "sd1"\ninpainting = true\n'
            'inpaint = "tiny-inpaint"\n',
            "drop `inpaint`",
        ),
    ],
)
def test_a_broken_inpaint_link_is_one_error_naming_the_entry(
    tmp_path: Path, toml: str, says: str
) -> None:
    user = tmp_path / "broken.toml"
    user.write_text(toml)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(user)
    assert "[models.d]" in str(caught.value) and says in str(caught.value)
