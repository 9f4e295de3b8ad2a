"""sref, cref and control through studio on the tiny engine: each picture reaches the job by hash
only, steers the result, survives a reroll and an upscale (attached again from the input store),
is screened like every input picture, and a family without the guide is refused before queueing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.png import read_parameters
from studio import ImagineOptions, Requester, Studio
from studio.errors import InputBlocked, InvalidRequest
from studio.image_inputs import InputPicture, read_picture
from tests.stand_ins import SwitchDetector
from tests.studio.conftest import finished

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)


def sketch(shape: str, size: tuple[int, int] = (64, 64)) -> InputPicture:
    picture = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(picture)
    if shape == "square":
        draw.rectangle((12, 12, 50, 50), outline="black", width=3)
    else:
        draw.ellipse((8, 16, 56, 48), fill=(30, 90, 200), outline="black", width=3)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return read_picture(buffer.getvalue(), field="control")


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as opened:
        return np.asarray(opened.convert("RGB"))


async def paint(studio: Studio, **options: object) -> tuple[np.ndarray, str]:
    submitted = await studio.submit(
        ImagineOptions(prompt="a lighthouse", seed=5, count=1, steps=3, **options),  # type: ignore[arg-type]
        ALICE,
    )
    image = (await finished(studio, submitted)).job.images[0]
    return pixels(image.png), submitted.job_id


async def test_each_guide_steers_the_result_and_the_row_keeps_hashes_only(
    studio: Studio,
) -> None:
    square, circle = sketch("square"), sketch("circle")
    plain, _ = await paint(studio)
    styled, _ = await paint(studio, sref=circle)
    guided, job = await paint(studio, cref=circle, control=square, control_mode="lineart:0.8")
    assert len({image.tobytes() for image in (plain, styled, guided)}) == 3
    request = studio.queue.get(job).request
    [reference] = request.references
    assert (reference.kind, reference.weight, reference.png) == ("character", 0.6, None)
    assert request.control is not None and request.control.png is None
    assert (request.control.mode, request.control.scale) == ("lineart", 0.8)
    stored = studio.queue.store.inputs
    assert stored.get(circle.sha256) == circle.png and stored.get(square.sha256) == square.png
    parameters = read_parameters(studio.queue.get(job).image_paths[0].read_bytes()) or ""
    assert "ControlNet 0" in parameters and "IP-Adapter character" in parameters


async def test_weights_come_from_the_options_else_the_preferences(studio: Studio) -> None:
    await studio.preferences.set(ALICE, {"sref_weight": 0.3, "cref_weight": 1.5})
    submitted = await studio.submit(
        ImagineOptions(
            prompt="a lighthouse", sref=sketch("circle"), cref=sketch("square"), cref_weight=0.2
        ),
        ALICE,
    )
    weights = {r.kind: r.weight for r in studio.queue.get(submitted.job_id).request.references}
    assert weights == {"style": 0.3, "character": 0.2}
    await finished(studio, submitted)


async def test_reroll_and_upscale_keep_the_guides(studio: Studio) -> None:
    _first, job = await paint(studio, sref=sketch("circle"), control=sketch("square"))
    again = await studio.derive(job, "reroll", None, ALICE)
    rerolled = studio.queue.get(again.job_id).request
    assert rerolled.references and rerolled.control is not None
    await finished(studio, again)
    bigger = await studio.derive(job, "upscale", 0, ALICE)
    done = await finished(studio, bigger)
    assert pixels(done.job.images[0].png).shape[:2] == (128, 128)
    assert studio.queue.get(bigger.job_id).request.control is not None


@pytest.mark.parametrize(
    ("model", "option", "field"),
    [
        ("tiny-sd2", "sref", "sref"),
        ("tiny-sd2", "cref", "cref"),
        ("tiny-flux", "control", "control_mode"),
    ],
)
async def test_a_family_without_the_guide_is_refused_before_queueing(
    studio: Studio, model: str, option: str, field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await studio.submit(
            ImagineOptions(prompt="a lighthouse", model=model, **{option: sketch("circle")}),  # type: ignore[arg-type]
            ALICE,
        )
    assert caught.value.field == field
    assert studio.queue.queue_length() == 0


async def test_a_control_mode_without_a_picture_is_refused(studio: Studio) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await studio.submit(ImagineOptions(prompt="a lighthouse", control_mode="canny"), ALICE)
    assert caught.value.field == "control_mode" and "attach" in caught.value.message


@pytest.mark.parametrize("option", ["sref", "cref", "control"])
async def test_a_flagged_guide_picture_is_refused_by_its_option_and_not_stored(
    studio: Studio, detector: SwitchDetector, option: str
) -> None:
    detector.flag = True
    with pytest.raises(InputBlocked) as caught:
        await studio.submit(
            ImagineOptions(prompt="a lighthouse", **{option: sketch("circle")}),  # type: ignore[arg-type]
            ALICE,
        )
    assert f"`{option}`" in caught.value.reason
    [entry] = studio.record.recent(10, 10, ("blocked_input",))
    assert entry.details["field"] == option
    folder = studio.queue.store.inputs.folder
    assert not folder.exists() or not any(folder.iterdir())


async def test_a_zoom_of_a_guided_result_paints_from_the_picture_alone(studio: Studio) -> None:
    """A masked edit drops the references and the ControlNet picture: the result carries its
    style already, and the control's lines would not line up with the zoomed canvas."""
    _, job = await paint(studio, sref=sketch("circle"), control=sketch("square"))
    zoomed = await studio.derive(job, "zoom_out_2", 0, ALICE)
    request = studio.queue.get(zoomed.job_id).request
    assert request.mode == "inpaint" and request.references == [] and request.control is None
    await finished(studio, zoomed)


async def test_use_these_settings_of_a_picture_job_paints_from_the_same_pictures(
    studio: Studio,
) -> None:
    """ "Use these settings" on a job painted from pictures gives them back (with the strength,
    weights, mode and scale), so the job it starts is painted from them again, not the prompt
    alone."""
    square, circle = sketch("square"), sketch("circle")
    _first, job = await paint(
        studio, image=circle, strength=0.7, sref=circle, control=square, control_mode="canny:0.5"
    )
    options = await studio.reuse(job)
    assert options.image is not None and options.image.sha256 == circle.sha256
    assert options.strength == 0.7 and options.sref is not None
    assert options.control is not None and options.control_mode == "canny:0.5"
    again = await studio.submit(options, ALICE, personal=False)
    before, after = studio.queue.get(job).request, studio.queue.get(again.job_id).request
    assert (after.mode, after.init_image_sha256, after.strength) == ("img2img", circle.sha256, 0.7)
    assert after.references == before.references and after.control == before.control
    await finished(studio, again)
