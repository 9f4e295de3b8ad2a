"""Zoom out, pan and vary region under a single result, through the loopback Discord: each
button paints a new job from the image, the region menu and its prompt form work, and all of
them keep working after a restart (their custom_ids say everything)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bot.config import Settings
from generation.engine_api import ImageEngine
from loopback import LoopbackDiscord, StoredMessage
from tests.bot.harness import RunningBot, running_bot
from tests.bot.test_buttons import _click, _done, _imagine


def _labels(message: StoredMessage) -> list[list[str]]:
    return [
        [
            child.get("label") or (child.get("emoji") or {}).get("name")
            for child in row["components"]
        ]
        for row in message.components
    ]


def _job(message: StoredMessage) -> str:
    return str(message.embeds[0]["footer"]["text"]).removeprefix("job ")


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


async def test_a_single_result_offers_zoom_pan_and_vary_region_and_a_grid_does_not(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    alice = loopback.add_user("alice")
    single = await _imagine(loopback, alice, count=1)
    assert _labels(single)[:3] == [
        ["Upscale", "Vary (subtle)", "Vary (strong)"],
        ["Zoom out 1.5×", "Zoom out 2×", "Vary region"],
        ["⬅️", "➡️", "⬆️", "⬇️"],
    ]
    grid = await loopback.wait_original(
        await loopback.slash("imagine", {"prompt": "a red fox", "count": 2}, user=alice), _done
    )
    assert all("Zoom out 2×" not in row for row in _labels(grid))


async def test_zoom_and_pan_paint_a_new_border_around_the_kept_picture(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    alice = loopback.add_user("alice")
    single = await _imagine(loopback, alice, count=1)
    zoomed = await _click(loopback, single, "Zoom out 2×", alice)
    assert zoomed.embeds[0]["title"] == "Zoomed out ×2"
    job = bot.studio.queue.get(_job(zoomed))
    assert job.request.mode == "inpaint" and job.origin.action == "zoom_out_2"
    made = _pixels(zoomed.attachments[0].data)
    assert made.shape == (64, 64, 3)
    canvas = _pixels(bot.studio.queue.store.inputs.get(job.request.init_image_sha256 or ""))
    assert np.array_equal(made[28:36, 28:36], canvas[28:36, 28:36])  # the kept middle
    assert np.abs(made[:8] - canvas[:8]).mean() > 5  # the painted border
    # An outpainted result is a single image again: it upscales, varies, zooms and pans on.
    assert _labels(zoomed)[:2] == [
        ["Upscale", "Vary (subtle)", "Vary (strong)"],
        ["Zoom out 1.5×", "Zoom out 2×", "Vary region"],
    ]
    varied = await _click(loopback, zoomed, "Vary (subtle)", alice)  # repainted from the result
    assert bot.studio.queue.get(_job(varied)).request.mode == "img2img"
    panned = await _click(loopback, zoomed, "⬅️", alice)
    assert panned.embeds[0]["title"] == "Panned ⬅️"
    assert bot.studio.queue.get(_job(panned)).request.mode == "inpaint"


async def test_vary_region_asks_for_a_region_then_the_prompt(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    bob = loopback.add_user("bob")
    single = await _imagine(loopback, bob, count=1)
    click = await loopback.click(single, single.button("Vary region"), user=bob)
    menu = await loopback.wait_original(click, lambda m: bool(m.components))
    assert menu.flags & 64  # ephemeral: only bob sees the menu
    [custom_id] = menu.custom_ids()
    picked = await loopback.select(menu, custom_id, ["right_half"], user=bob)
    await loopback.wait_for(lambda: picked.modal is not None)
    assert picked.modal is not None
    prefilled = picked.modal["components"][0]["component"]["value"]
    assert prefilled.startswith("a red fox")
    submitted = await loopback.submit_modal(picked, {"prompt": "a blue owl"})
    varied = await loopback.wait_original(submitted, _done)
    assert varied.embeds[0]["title"] == "Region varied"
    assert varied.embeds[0]["description"].startswith("a blue owl")
    before, after = _pixels(single.attachments[0].data), _pixels(varied.attachments[0].data)
    assert np.array_equal(after[:, :32], before[:, :32])
    assert not np.array_equal(after[:, 40:], before[:, 40:])


async def test_zoom_and_the_region_menu_work_after_a_restart(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    cleo = loopback.add_user("cleo")
    async with running_bot(loopback, settings, engine):
        single = await _imagine(loopback, cleo, count=1)
        click = await loopback.click(single, single.button("Vary region"), user=cleo)
        menu = await loopback.wait_original(click, lambda m: bool(m.components))
    async with running_bot(loopback, settings, engine) as second:
        zoomed = await _click(loopback, single, "Zoom out 1.5×", cleo)
        assert second.studio.queue.get(_job(zoomed)).origin.action == "zoom_out_1.5"
        picked = await loopback.select(menu, menu.custom_ids()[0], ["center"], user=cleo)
        await loopback.wait_for(lambda: picked.modal is not None)
        submitted = await loopback.submit_modal(picked, {"prompt": "a lantern"})
        varied = await loopback.wait_original(submitted, _done)
        assert second.studio.queue.get(_job(varied)).origin.action == "vary_region"
