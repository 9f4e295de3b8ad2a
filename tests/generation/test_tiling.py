"""Seamless tiles: with ``tile`` the model paints on a torus, so the picture's right edge
continues into its left and its bottom into its top; the padding is restored after the call."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generation.engine import DiffusersEngine
from generation.errors import InvalidRequest
from generation.loading import PipelineLoader
from generation.requests import GenerationRequest
from generation.tiling import circular_padding

SHIFT = 4  # latent pixels: a multiple of the UNet's downsampling, 32 image pixels


def paint_from(pipe: object, latents: object) -> np.ndarray:
    import torch

    with torch.no_grad():
        images = pipe(  # type: ignore[operator]
            prompt="a brick wall",
            latents=latents,
            num_inference_steps=3,
            guidance_scale=5.0,
            output_type="np",
        ).images
    return np.asarray(images[0], dtype=np.float64) * 255


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_a_tile_continues_across_its_edges(loader: PipelineLoader, model: str) -> None:
    """Paint once, and once from the same noise moved ``SHIFT`` latent pixels right and down
    (across the edges). On a seamless tile the second picture is the first moved by as much:
    what lies across the 2×2 repeat's seam is painted exactly like the middle of the picture.
    Without tiling, the edges break it."""
    import torch

    loaded = loader.get(model)
    pipe = loaded.pipe
    pipe.set_progress_bar_config(disable=True)
    channels = pipe.unet.config.in_channels
    noise = torch.randn((1, channels, 16, 16), generator=torch.Generator().manual_seed(3))
    moved = torch.roll(noise, (SHIFT, SHIFT), dims=(2, 3))
    pixels = SHIFT * pipe.vae_scale_factor
    errors = {}
    for tile in (False, True):
        with circular_padding([pipe.unet, pipe.vae], tile):
            first, second = paint_from(pipe, noise), paint_from(pipe, moved)
        errors[tile] = np.abs(np.roll(first, (pixels, pixels), axis=(0, 1)) - second).mean()
    assert errors[True] < 0.5  # the same picture, moved across its own edges
    assert errors[False] > 20 * errors[True]
    assert all(m.padding_mode == "zeros" for m in pipe.unet.modules() if hasattr(m, "padding_mode"))


def picture(engine: DiffusersEngine, **fields: object) -> tuple[np.ndarray, str]:
    request = GenerationRequest(
        prompt="a brick wall",
        width=128,
        height=128,
        steps=3,
        seed=11,
        **fields,  # type: ignore[arg-type]
    )
    [result] = engine.generate([request])
    image = result.images[0]
    with Image.open(io.BytesIO(image.png)) as opened:
        return np.asarray(opened.convert("RGB"), dtype=np.float64), image.parameters


def test_tile_changes_the_image_is_recorded_and_is_undone_after_the_call(
    engine: DiffusersEngine,
) -> None:
    before, parameters = picture(engine)
    tiled, tiled_parameters = picture(engine, tile=True)
    after, _ = picture(engine)
    assert "Tiling: True" in tiled_parameters and "Tiling" not in parameters
    assert np.abs(tiled - before).mean() > 1
    assert np.array_equal(after, before)  # the padding is back as it was


def test_flow_models_are_refused_naming_tile(engine: DiffusersEngine) -> None:
    request = GenerationRequest(
        prompt="a brick wall", model="tiny-flux", width=64, height=64, steps=2, guidance=3.5,
        scheduler="Euler", tile=True,
    )  # fmt: skip
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([request])
    assert caught.value.field == "tile" and "SDXL" in caught.value.message
