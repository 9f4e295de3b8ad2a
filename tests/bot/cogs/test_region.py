"""``/region`` through the loopback Discord: a picture and a mask attached, the white part
painted again and the rest kept; a mismatched or empty mask and a flagged picture are refused
privately, naming the option, and nothing is queued."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from generation.queue import JobStatus
from loopback import LoopbackDiscord, Upload
from tests.bot.cogs.helpers import CommunityBot, answer, is_result


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def noise(width: int = 64, height: int = 64) -> bytes:
    return png(Image.effect_noise((width, height), 60).convert("RGB"))


def top_half(width: int = 64, height: int = 64) -> bytes:
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (0, 0, width, height // 2))
    return png(mask)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


async def test_region_paints_the_white_of_the_mask_and_keeps_the_rest(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice = loopback.add_user("alice")
    picture = noise()
    record = await loopback.slash(
        "region",
        {
            "prompt": "a stormy sky",
            "image": Upload(picture, "photo.png"),
            "mask": Upload(top_half(), "mask.png"),
            "steps": 3,
        },
        user=alice,
    )
    result = await loopback.wait_original(record, is_result)
    assert result.embeds[0]["title"] == "Region repainted"
    [made] = [a for a in result.attachments if a.filename.endswith(".png")]
    before, after = pixels(picture), pixels(made.data)
    assert after.shape == before.shape
    assert np.array_equal(after[40:], before[40:])  # the black half is the member's picture
    assert np.abs(after[:24] - before[:24]).mean() > 5
    [job] = cbot.studio.queue.store.by_status(JobStatus.DONE)
    assert job.request.mode == "inpaint" and job.request.strength == 1.0
    assert job.request.init_image is None and job.request.init_image_sha256  # stored by hash
    assert job.origin.action == "region" and len(loopback.downloads) == 2
    assert not loopback.violations


async def test_a_mask_of_another_shape_or_all_black_is_refused_naming_it(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    bob = loopback.add_user("bob")
    for mask, says in ((top_half(64, 32), "shape"), (png(Image.new("L", (64, 64))), "black")):
        record = await loopback.slash(
            "region",
            {"prompt": "a sky", "image": Upload(noise()), "mask": Upload(mask)},
            user=bob,
        )
        refused = await answer(loopback, record)
        assert refused.ephemeral and refused.content.startswith("❌ `mask`")
        assert says in refused.content
    assert cbot.studio.queue.queue_length() == 0


async def test_a_flagged_picture_is_refused_before_anything_is_queued(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    cbot.detector.flag = True
    record = await loopback.slash(
        "region",
        {"prompt": "a sky", "image": Upload(noise()), "mask": Upload(top_half())},
        user=loopback.add_user("carl"),
    )
    refused = await answer(loopback, record)
    assert refused.ephemeral and refused.content.startswith("🚫")
    assert cbot.studio.queue.queue_length() == 0
