"""Zoom out, pan and vary region: the canvas studio builds, and the jobs they become on the real
queue and the tiny engine (the new part painted, the kept part the old picture's pixels)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio import ImagineOptions, Requester, Studio
from studio import canvas as canvases
from studio.errors import InvalidRequest, PromptBlocked
from tests.studio.conftest import finished

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)


def array(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def mask_array(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)


def init_of(studio: Studio, job_id: str) -> bytes:
    """The picture a stored inpainting job starts from (rows keep its hash; the store its bytes)."""
    digest = studio.queue.get(job_id).request.init_image_sha256
    assert digest is not None
    return studio.queue.store.inputs.get(digest)


def gradient(width: int = 96, height: int = 96) -> Image.Image:
    """A picture whose every pixel says where it was: red grows rightwards, green downwards."""
    xs = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    ys = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([xs, ys, np.zeros_like(xs)], axis=2))


def test_zoom_out_shrinks_the_picture_into_the_middle_and_masks_the_border_around_it() -> None:
    made = canvases.outpaint(gradient(), "zoom_out_2", (96, 96))
    assert (made.width, made.height) == (96, 96)
    mask = mask_array(made.mask)
    assert mask[0, 0] == 255 and mask[48, 48] == 0  # border painted, middle kept
    assert mask[48, 24] == 255 and mask[48, 24 + 12] == 0  # inner starts at 24, overlap 2×3 px
    picture = array(made.picture)
    assert abs(picture[48, 30, 0] - array(canvases._png(gradient()))[48, 12, 0]) <= 6
    wider = mask_array(canvases.outpaint(gradient(), "zoom_out_1.5", (96, 96)).mask)
    assert (wider == 255).sum() < (mask == 255).sum()  # ×1.5 paints a thinner border


@pytest.mark.parametrize(
    ("move", "new", "kept"),
    [
        ("pan_left", (48, 5), (48, 90)),
        ("pan_right", (48, 90), (48, 5)),
        ("pan_up", (5, 48), (90, 48)),
        ("pan_down", (90, 48), (5, 48)),
    ],
)
def test_a_pan_slides_the_view_a_third_and_masks_the_strip_that_comes_into_view(
    move: str, new: tuple[int, int], kept: tuple[int, int]
) -> None:
    made = canvases.outpaint(gradient(), move, (96, 96))
    mask = mask_array(made.mask)
    assert mask[new] == 255 and mask[kept] == 0
    assert (mask == 255).mean() == pytest.approx(1 / 3 + 6 / 96, abs=0.02)  # strip + overlap
    if move == "pan_left":  # the old left edge moved a third to the right
        assert abs(array(made.picture)[48, 32, 0] - 0) <= 6


def test_regions_mask_their_part_and_unknown_ones_are_refused() -> None:
    for region, inside, outside in (
        ("left_half", (48, 10), (48, 80)),
        ("top_third", (10, 48), (50, 48)),
        ("center", (48, 48), (5, 5)),
    ):
        mask = mask_array(canvases.region(gradient(), region, (96, 96)).mask)
        assert mask[inside] == 255 and mask[outside] == 0
    with pytest.raises(InvalidRequest) as caught:
        canvases.region(gradient(), "elsewhere", (96, 96))
    assert caught.value.field == "region" and "left_half" in caught.value.message


def test_a_members_mask_must_have_the_images_shape_and_mask_something() -> None:
    with pytest.raises(InvalidRequest) as caught:
        canvases.with_mask(gradient(96, 96), Image.new("L", (96, 48), 255), (96, 96))
    assert caught.value.field == "mask" and "shape" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        canvases.with_mask(gradient(), Image.new("L", (96, 96), 0), (96, 96))
    assert caught.value.field == "mask" and "all black" in caught.value.message


def test_an_upscaled_picture_is_shrunk_to_the_engines_pixel_limit() -> None:
    assert canvases.fit_size("sd1", 1024, 1024, 512 * 512) == (512, 512)
    assert canvases.fit_size("sd1", 96, 64, 512 * 512) == (96, 64)
    assert canvases.fit_size("flux", 100, 72, 10**6) == (96, 64)  # FLUX.1's step of 16


async def test_zoom_and_pan_buttons_paint_the_border_and_keep_the_picture(studio: Studio) -> None:
    first = await studio.submit(ImagineOptions(prompt="a red fox", seed=7, count=1), ALICE)
    job = (await finished(studio, first)).job
    zoom = await studio.derive(job.job_id, "zoom_out_2", 0, ALICE)
    request = studio.queue.get(zoom.job_id).request
    assert (request.mode, request.strength, request.count) == ("inpaint", 1.0, 1)
    assert (request.width, request.height) == (64, 64) and request.seed is None
    made = (await finished(studio, zoom)).job.images[0].png
    kept = mask_array(request.mask_image or b"") == 0
    assert kept.sum() > 0
    init = init_of(studio, zoom.job_id)
    assert np.array_equal(array(made)[kept], array(init)[kept])
    assert np.abs(array(made) - array(init))[~kept].mean() > 5

    pan = await studio.derive(zoom.job_id, "pan_left", 0, ALICE)  # a zoomed result pans again
    assert studio.queue.get(pan.job_id).request.mode == "inpaint"
    assert (await finished(studio, pan)).job.images[0].png
    reroll = await studio.derive(pan.job_id, "reroll", None, ALICE)  # same canvas, new seed
    again = studio.queue.get(reroll.job_id).request
    assert (
        again.mode == "inpaint"
        and again.mask_image == studio.queue.get(pan.job_id).request.mask_image
    )
    upscale = studio.queue.get((await studio.derive(pan.job_id, "upscale", 0, ALICE)).job_id)
    assert upscale.request.mode == "upscale" and upscale.request.mask_image is None


async def test_vary_region_paints_the_region_from_the_edited_prompt(studio: Studio) -> None:
    first = await studio.submit(ImagineOptions(prompt="a red fox", seed=7, count=1), ALICE)
    job = (await finished(studio, first)).job
    varied = await studio.vary_region(job.job_id, 0, "right_half", "a blue owl", ALICE)
    request = studio.queue.get(varied.job_id).request
    assert request.mode == "inpaint" and request.prompt.startswith("a blue owl")
    assert np.array_equal(array(init_of(studio, varied.job_id)), array(job.images[0].png))
    made = (await finished(studio, varied)).job.images[0].png
    assert np.array_equal(array(made)[:, :32], array(job.images[0].png)[:, :32])
    assert not np.array_equal(array(made)[:, 40:], array(job.images[0].png)[:, 40:])

    with pytest.raises(InvalidRequest) as caught:
        await studio.vary_region(job.job_id, 0, "elsewhere", "a blue owl", ALICE)
    assert caught.value.field == "region"
    with pytest.raises(InvalidRequest) as caught:
        await studio.vary_region(job.job_id, 3, "center", "a blue owl", ALICE)
    assert caught.value.field == "index"


async def test_vary_regions_prompt_is_checked_like_any_prompt(studio: Studio) -> None:
    first = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    job = (await finished(studio, first)).job
    studio.guilds.add_term(10, 99, "owl")
    waiting = studio.queue.queue_length()
    with pytest.raises(PromptBlocked):
        await studio.vary_region(job.job_id, 0, "center", "a blue owl", ALICE)
    assert studio.queue.queue_length() == waiting
    assert [e.kind for e in studio.record.recent(10, 10, ("blocked_prompt",))] == ["blocked_prompt"]


async def test_an_inpainting_checkpoint_is_not_a_model_to_paint_with(studio: Studio) -> None:
    assert "tiny-inpaint" not in await studio.choices("model", ALICE)
    with pytest.raises(InvalidRequest) as caught:
        await studio.submit(ImagineOptions(prompt="a red fox", model="tiny-inpaint"), ALICE)
    assert caught.value.field == "model" and "tiny" in caught.value.message
    assert studio.queue.queue_length() == 0
