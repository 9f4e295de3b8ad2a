"""/imagine end to end through the loopback Discord on the tiny model."""

from __future__ import annotations

import io

from PIL import Image

from generation.png import read_parameters
from loopback import LoopbackDiscord, StoredMessage
from tests.bot.harness import RunningBot


def _done(message: StoredMessage) -> bool:
    """A result (embed) or a failure: stop waiting either way, the assertions tell which."""
    if message.content.startswith("❌"):
        raise AssertionError(message.content)
    return bool(message.embeds) and bool(message.components)


async def test_imagine_defers_then_delivers_grid_with_buttons(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    alice = loopback.add_user("alice")
    record = await loopback.slash(
        "imagine",
        {"prompt": "a lighthouse at dusk", "negative": "blurry", "seed": 42, "count": 4},
        user=alice,
    )
    result = await loopback.wait_original(record, _done)
    assert record.response_type == 5 and record.responded_after is not None
    embed = result.embeds[0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["description"] == "a lighthouse at dusk"
    assert fields["Seeds"] == "42, 43, 44, 45"
    assert "blurry" in fields["Negative"] and "lowres" in fields["Negative"]  # + the default
    assert fields["Steps"] == "2"
    grid, *singles = result.attachments
    with Image.open(io.BytesIO(grid.data)) as picture:
        assert picture.size == (128, 128)  # 2×2 of 64×64
    assert len(singles) == 4
    assert "Seed: 42" in (read_parameters(singles[0].data) or "")
    labels = [c.get("label") for row in result.components for c in row["components"]]
    assert labels[:8] == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]
    assert len(result.components) == 3
    # progress was shown on the way (queued or painting), then replaced by the result
    edits = [s for s in loopback.transcript if s.kind == "edit_original"]
    assert any("Painting" in (s.payload or {}).get("content", "") for s in edits)
    assert any(f.filename == "preview.png" for s in edits for f in s.files)


async def test_files_fit_the_announced_upload_limit(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    loopback.attachment_size_limit = 9_000  # announced in the interaction; the grid PNG is larger
    record = await loopback.slash(
        "imagine", {"prompt": "static noise", "count": 4}, user=loopback.add_user("frank")
    )
    result = await loopback.wait_original(record, _done)
    main, *rest = result.attachments
    assert main.filename.endswith((".webp", ".jpg"))
    assert sum(len(a.data) for a in result.attachments) <= 9_000
    assert result.embeds[0]["image"]["url"] == f"attachment://{main.filename}"
    with Image.open(io.BytesIO(main.data)) as picture:
        assert picture.width >= 64
    assert all(a.filename.endswith(".png") for a in rest)
