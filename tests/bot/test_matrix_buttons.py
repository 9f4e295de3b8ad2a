"""A sample of the intersection matrix (``tests/studio/test_matrix.py``) through the bot: the
member types ``/imagine`` in the loopback Discord and clicks the button as it is labelled under
the result (U2, V4, Vary (strong), 🔄, ✏️ with its form), and the result must arrive.

Only the cells whose button the result actually shows are candidates (a 1-image result has no
U2–U4, a grid no Vary (strong)); ``BOT_CELLS`` takes every k-th of them, in the matrix's order,
so that about ``SAMPLE`` spread over the families, features, counts, aspects and buttons run.
"""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from loopback import LoopbackDiscord, StoredMessage, Upload
from tests.bot.harness import RunningBot
from tests.studio.test_matrix import (
    ACTIONS,
    CELLS,
    MATRIX_PRESET,
    Cell,
    no_tracebacks,
    submit_refusal,
)

SAMPLE = 8
MASKED_LABELS = {"zoom_out_2": "Zoom out 2×", "pan_left": "⬅️", "vary_region": "Vary region"}


def label(cell: Cell) -> str | None:
    """The button a member clicks for the cell's action, or None when the result has none."""
    action, index = ACTIONS[cell.action]
    if action == "reroll":
        return "🔄"
    if action == "remix":
        return "✏️"
    if action in MASKED_LABELS:  # under a single image only
        return MASKED_LABELS[action] if cell.count == 1 else None
    if cell.count == 1:
        offered = {"upscale": "Upscale", "vary_subtle": "Vary (subtle)"}
        offered["vary_strong"] = "Vary (strong)"
        return offered[action] if index in (0, -1) else None
    if action == "vary_strong":
        return None
    number = cell.count if index == -1 else (index or 0) + 1
    return f"{'U' if action == 'upscale' else 'V'}{number}"


OFFERED = [cell for cell in CELLS if label(cell) is not None and submit_refusal(cell) is None]
BOT_CELLS = OFFERED[:: max(1, len(OFFERED) // SAMPLE)][:SAMPLE]


def _finished(message: StoredMessage) -> bool:
    if message.content.startswith(("❌", "🚫")):
        raise AssertionError(message.content)
    return bool(message.embeds) and bool(message.components)


def _fields(message: StoredMessage) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


def _size(message: StoredMessage) -> tuple[int, int]:
    """The size of one image of the result (a grid comes first, then the single images)."""
    files = message.attachments
    with Image.open(io.BytesIO(files[1 if len(files) > 1 else 0].data)) as picture:
        return picture.size


@pytest.mark.slow
@pytest.mark.parametrize("cell", BOT_CELLS, ids=str)
async def test_a_member_clicks_the_cells_button_and_gets_the_result(
    loopback: LoopbackDiscord, bot: RunningBot, cell: Cell, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bot.studio.guilds.add_preset(loopback.guild.id, 99, MATRIX_PRESET)
    member = loopback.add_user("member")
    chosen = cell.options()
    pictures = dict(chosen.input_pictures())  # attached as files, as a member does
    options = chosen.model_dump(exclude_none=True, exclude={"default_negative", *pictures})
    options |= {name: Upload(picture.png, f"{name}.png") for name, picture in pictures.items()}
    record = await loopback.slash("imagine", options, user=member)
    result = await loopback.wait_original(record, _finished)
    assert len(result.attachments) >= 1

    button = label(cell)
    assert button is not None
    click = await loopback.click(result, result.button(button), user=member)
    if button == "✏️":
        await loopback.wait_for(lambda: click.modal is not None)
        assert click.modal is not None
        prefilled = click.modal["components"][0]["component"]["value"]
        click = await loopback.submit_modal(click, {"prompt": prefilled + ", at dusk"})
    if button == "Vary region":  # a private menu of regions, then the prompt's form
        menu = await loopback.wait_original(click, lambda m: bool(m.components))
        click = await loopback.select(menu, menu.custom_ids()[0], ["center"], user=member)
        await loopback.wait_for(lambda: click.modal is not None)
        click = await loopback.submit_modal(click, {})
    derived = await loopback.wait_original(click, _finished)
    width, height = _size(derived)
    assert _fields(derived)["Size"] == f"{width}×{height}"  # the size it really has
    if ACTIONS[cell.action][0] == "upscale" and cell.value("adapter") == "draft":
        assert derived.embeds[0]["title"] == "Repainted by the full model"
        assert (width, height) == _size(result)
    elif ACTIONS[cell.action][0] == "upscale":
        assert width > _size(result)[0] and height > _size(result)[1]
    no_tracebacks(caplog)
