"""/imagine's ``image`` attachment through the loopback Discord: downloaded from the CDN only
when its size is allowed, read as untrusted, screened, painted from, answered privately when
it cannot be used."""

from __future__ import annotations

import io

from PIL import Image

from generation.png import read_parameters
from generation.queue import JobStatus
from loopback import LoopbackDiscord, Upload
from tests.bot.cogs.helpers import CommunityBot, answer, imagine, is_result


def png(width: int = 96, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 50).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_an_attached_picture_is_painted_from_and_recorded(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice = loopback.add_user("alice")
    upload = Upload(png(), "sketch.png")
    record = await imagine(loopback, alice, image=upload, strength=0.5, steps=4)
    result = await loopback.wait_original(record, is_result)
    [option] = [o for o in record.data["options"] if o["name"] == "image"]
    assert loopback.downloads == [int(option["value"])]
    described = record.data["resolved"]["attachments"][option["value"]]
    assert (described["width"], described["height"]) == (96, 64)
    [single] = [a for a in result.attachments if a.filename.endswith(".png")]
    parameters = read_parameters(single.data) or ""
    assert "Denoising strength: 0.5" in parameters and "Init image hash: " in parameters
    [job] = cbot.studio.queue.store.by_status(JobStatus.DONE)
    assert job.request.mode == "img2img" and job.request.init_image is None
    assert not loopback.violations


async def test_a_file_over_the_upload_limit_is_refused_privately_without_a_download(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    loopback.attachment_size_limit = 4_000
    record = await imagine(loopback, loopback.add_user("bob"), image=Upload(png(128, 128)))
    refused = await answer(loopback, record)
    assert refused.ephemeral and "`image`" in refused.content and "MiB" in refused.content
    assert loopback.downloads == [] and cbot.studio.queue.queue_length() == 0


async def test_a_damaged_file_is_refused_privately_naming_the_option(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    whole = png()
    record = await imagine(
        loopback, loopback.add_user("carol"), image=Upload(whole[:300], "cut.png")
    )
    refused = await answer(loopback, record)
    assert refused.ephemeral and refused.content.startswith("❌ `image`")
    assert "damaged" in refused.content or "not a picture" in refused.content
    assert cbot.studio.queue.queue_length() == 0


async def test_a_flagged_picture_is_refused_and_told_to_the_moderators(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    log = loopback.channel("general")
    cbot.studio.guilds.set(loopback.guild.id, loopback.owner.id, "mod_log_channel", log.id)
    cbot.detector.flag = True
    record = await imagine(loopback, loopback.add_user("dave"), image=Upload(png()))
    refused = await answer(loopback, record)
    assert refused.ephemeral and refused.content.startswith("🚫")
    await loopback.wait_for(lambda: bool(loopback.channel_messages("general")))
    [logged] = loopback.channel_messages("general")
    assert "Refused input picture" in str(logged.embeds)
    assert cbot.studio.queue.queue_length() == 0


async def test_a_tile_is_shown_repeated_2x2_with_the_tile_itself_attached(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    record = await imagine(loopback, loopback.add_user("erin"), tile=True, steps=2)
    result = await loopback.wait_original(record, is_result)
    shown, tile = result.attachments
    assert shown.filename.startswith("muralist_tiled_") and tile.filename.endswith(".png")
    with Image.open(io.BytesIO(shown.data)) as repeated, Image.open(io.BytesIO(tile.data)) as one:
        assert repeated.size == (2 * one.width, 2 * one.height)
        quarter = repeated.crop((one.width, one.height, 2 * one.width, 2 * one.height))
        assert quarter.tobytes() == one.convert("RGB").tobytes()
    assert "Tiling: True" in (read_parameters(tile.data) or "")
    fields = {f["name"]: f["value"] for f in result.embeds[0]["fields"]}
    assert "2×2" in fields["Tile"]


async def test_tile_on_a_flow_model_is_refused_privately_naming_tile(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    record = await imagine(loopback, loopback.add_user("finn"), tile=True, model="tiny-flux")
    refused = await answer(loopback, record)
    assert refused.ephemeral and refused.content.startswith("❌ `tile`")


async def test_use_these_settings_on_a_picture_job_paints_from_the_picture_again(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice = loopback.add_user("alice")
    record = await imagine(loopback, alice, image=Upload(png(), "sketch.png"), strength=0.5)
    result = await loopback.wait_original(record, is_result)
    first = result.embeds[0]["footer"]["text"].removeprefix("job ")
    opened = await loopback.message_command("Use these settings", result, user=alice)
    edited = await loopback.submit_modal(opened, {"prompt": "a stormy harbour"})
    second = await loopback.wait_original(edited, is_result)
    job_id = second.embeds[0]["footer"]["text"].removeprefix("job ")
    before, after = cbot.studio.queue.get(first).request, cbot.studio.queue.get(job_id).request
    assert (after.mode, after.strength) == ("img2img", 0.5)
    assert after.init_image_sha256 == before.init_image_sha256 is not None
    assert not loopback.violations
