"""/imagine's ``image`` through studio on the tiny engine: the picture steers the result, the
request is img2img at the picture's shape, the PNG records the strength and the source's hash,
and a picture the channel's policy refuses is recorded for the moderators and never stored."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generation.png import read_parameters
from studio import ImagineOptions, LogNotice, Requester, Studio
from studio.errors import InputBlocked, InvalidRequest
from studio.image_inputs import InputPicture, read_picture
from tests.stand_ins import SwitchDetector
from tests.studio.conftest import finished, no_notice, notices

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
ADMIN = 99


def picture(
    width: int = 96, height: int = 64, colour: tuple[int, int, int] = (250, 20, 20)
) -> InputPicture:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return read_picture(buffer.getvalue(), field="image")


def array(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as opened:
        return np.asarray(opened.convert("RGB"), dtype=np.float64)


async def paint(studio: Studio, **options: object) -> np.ndarray:
    submitted = await studio.submit(
        ImagineOptions(prompt="a lighthouse", seed=3, count=1, steps=4, **options),
        ALICE,  # type: ignore[arg-type]
    )
    return array((await finished(studio, submitted)).job.images[0].png)


async def test_the_picture_steers_the_result_and_strength_sets_how_much(studio: Studio) -> None:
    """The tiny model's VAE has random weights, so colours do not survive it; what must hold
    is what a member notices: another picture gives another result, and the lower the
    strength, the more two pictures' results differ (the picture shows through)."""
    red = picture(64, 64, (250, 20, 20))
    stripes = picture(64, 64, (20, 20, 250))
    plain = await paint(studio)
    changes = {}
    for strength in (0.25, 1.0):
        from_red = await paint(studio, image=red, strength=strength)
        from_stripes = await paint(studio, image=stripes, strength=strength)
        changes[strength] = np.abs(from_red - from_stripes).mean()
        assert np.abs(from_red - plain).mean() > 5
    assert changes[0.25] > 10
    assert changes[0.25] > 2 * changes[1.0]


async def test_the_request_is_img2img_at_the_pictures_shape_with_its_hash(studio: Studio) -> None:
    wide = picture(300, 150)
    submitted = await studio.submit(
        ImagineOptions(prompt="a lighthouse", image=wide, count=1, steps=4), ALICE
    )
    request = studio.queue.get(submitted.job_id).request
    assert request.mode == "img2img" and request.init_image_sha256 == wide.sha256
    assert request.init_image is None  # the row keeps the hash; the file is stored once
    assert request.strength == 0.6  # the instance's default
    assert request.width > request.height and request.width % 8 == 0  # 64² scale: clamped
    image = (await finished(studio, submitted)).job.images[0]
    parameters = read_parameters(image.png) or ""
    assert "Denoising strength: 0.6" in parameters
    assert f"Init image hash: {wide.sha256}" in parameters
    # A typed aspect wins over the picture's shape.
    square = await studio.submit(
        ImagineOptions(prompt="a lighthouse", image=wide, aspect="1:1", count=1), ALICE
    )
    squared = studio.queue.get(square.job_id).request
    assert squared.width == squared.height
    await finished(studio, square)


async def test_buttons_on_an_image_job_reroll_from_the_picture_and_vary_the_result(
    studio: Studio,
) -> None:
    red = picture(64, 64)
    first = await studio.submit(
        ImagineOptions(prompt="a lighthouse", image=red, strength=0.5, count=1, steps=4), ALICE
    )
    await finished(studio, first)
    again = await studio.derive(first.job_id, "reroll", None, ALICE)
    request = studio.queue.get(again.job_id).request
    assert request.mode == "img2img" and request.init_image_sha256 == red.sha256
    await finished(studio, again)
    # V buttons repaint the chosen result itself (variation seeds do not apply to img2img).
    varied = await studio.derive(first.job_id, "vary_strong", 0, ALICE)
    request = studio.queue.get(varied.job_id).request
    assert (request.mode, request.strength) == ("img2img", 0.6)
    assert request.init_image_sha256 != red.sha256
    made = (await finished(studio, varied)).job
    assert made.images[0].seed == studio.queue.get(first.job_id).seeds[0]


async def test_strength_without_a_picture_is_refused_and_too_few_steps_are_raised(
    studio: Studio,
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await studio.submit(ImagineOptions(prompt="a lighthouse", strength=0.5), ALICE)
    assert caught.value.field == "strength" and "image" in caught.value.message
    raised = await studio.submit(
        ImagineOptions(prompt="a lighthouse", image=picture(), strength=0.1, steps=2), ALICE
    )
    assert studio.queue.get(raised.job_id).request.steps == 10  # 10 × 0.1 paints one step
    assert any("10 steps" in warning for warning in raised.warnings)
    await finished(studio, raised)
    with pytest.raises(InvalidRequest) as caught:
        ImagineOptions.parse(prompt="a lighthouse", strength=0.01)
    assert caught.value.field == "strength" and "0.05..1" in caught.value.message


async def test_a_flagged_picture_is_refused_logged_and_never_stored(
    studio: Studio, detector: SwitchDetector
) -> None:
    studio.guilds.set(10, ADMIN, "mod_log_channel", 555)
    detector.flag = True
    bad = picture()
    with pytest.raises(InputBlocked) as caught:
        await studio.submit(ImagineOptions(prompt="a lighthouse", image=bad), ALICE)
    assert "`image`" in caught.value.reason and "Flagged" in caught.value.reason
    assert studio.queue.queue_length() == 0
    [entry] = studio.record.recent(10, 10, ("blocked_input",))
    assert (entry.user_id, entry.details["sha256"]) == (1, bad.sha256)
    [told] = await notices(studio, 1)
    assert isinstance(told, LogNotice) and told.entry.id == entry.id
    folder = studio.queue.store.inputs.folder
    assert not folder.exists() or not any(folder.iterdir())
    # Without a picture the same member and prompt paint as usual; no notice for that.
    detector.flag = False
    await finished(studio, await studio.submit(ImagineOptions(prompt="a lighthouse"), ALICE))
    assert await no_notice(studio)


async def test_an_upscale_of_a_picture_job_or_a_zoom_enlarges_it_instead_of_repainting(
    studio: Studio,
) -> None:
    """U on a result painted from a picture at strength 1.0, or on a zoom (always 1.0), runs the
    hires-fix at the upscale's own strength: the PNG says so, and the image is not redrawn."""
    painted = await studio.submit(
        ImagineOptions(prompt="a lighthouse", image=picture(64, 64), strength=1.0, count=1),
        ALICE,
    )
    await finished(studio, painted)
    zoom = await studio.derive(painted.job_id, "zoom_out_2", 0, ALICE)
    await finished(studio, zoom)
    for parent in (painted.job_id, zoom.job_id):
        upscaled = await studio.derive(parent, "upscale", 0, ALICE)
        assert studio.queue.get(upscaled.job_id).request.strength == 0.35
        image = (await finished(studio, upscaled)).job.images[0]
        assert "Denoising strength: 0.35" in (read_parameters(image.png) or "")
