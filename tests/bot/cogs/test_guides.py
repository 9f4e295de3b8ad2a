"""/imagine's sref, cref and control through the loopback Discord: attachments downloaded,
read, screened and painted with; control_mode autocompleted; /preferences keeps the weights;
a family without the guide is answered privately naming the option."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from generation.png import read_parameters
from generation.queue import JobStatus
from loopback import LoopbackDiscord, Upload
from tests.bot.cogs.helpers import CommunityBot, answer, imagine, is_result, say, text_of


def sketch(filename: str) -> Upload:
    picture = Image.new("RGB", (80, 64), "white")
    ImageDraw.Draw(picture).ellipse((8, 8, 70, 56), outline="black", width=3)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return Upload(buffer.getvalue(), filename)


async def test_references_and_control_are_painted_with_and_recorded(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice = loopback.add_user("alice")
    saved = await say(loopback, "preferences set", {"sref_weight": 0.7}, user=alice)
    assert "sref_weight: `0.7`" in text_of(saved)
    record = await imagine(
        loopback,
        alice,
        steps=3,
        sref=sketch("style.png"),
        cref=sketch("face.png"),
        control=sketch("lines.png"),
        control_mode="lineart:0.5",
    )
    result = await loopback.wait_original(record, is_result)
    assert len(loopback.downloads) == 3
    [single] = [a for a in result.attachments if a.filename.endswith(".png")]
    parameters = read_parameters(single.data) or ""
    assert "IP-Adapter style" in parameters and "Weight: 0.7" in parameters
    assert 'ControlNet 0: "Module: lineart, Model: tiny-lineart, Weight: 0.5' in parameters
    [job] = cbot.studio.queue.store.by_status(JobStatus.DONE)
    assert [r.kind for r in job.request.references] == ["style", "character"]
    assert job.request.width > job.request.height  # the control picture's shape
    fields = {field["name"]: field["value"] for field in result.embeds[0]["fields"]}
    assert fields["References"] == "style 0.7, character 0.6"  # the embed shows every setting
    assert fields["ControlNet"] == "lineart 0.5"
    assert not loopback.violations


async def test_control_mode_is_autocompleted_and_a_bad_one_is_refused_privately(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    bob = loopback.add_user("bob")
    offered = await loopback.autocomplete(
        "imagine", {"prompt": "a cat", "control_mode": ""}, "control_mode", user=bob
    )
    assert {"canny", "lineart", "canny:0.5"} <= {choice["value"] for choice in offered}
    record = await imagine(loopback, bob, control=sketch("x.png"), control_mode="depth")
    refused = await answer(loopback, record)
    assert refused.ephemeral and "`control_mode`" in refused.content
    assert "canny or lineart" in refused.content and cbot.studio.queue.queue_length() == 0


async def test_a_family_without_an_ip_adapter_is_refused_naming_sref(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    record = await imagine(
        loopback, loopback.add_user("carol"), model="tiny-sd2", sref=sketch("s.png")
    )
    refused = await answer(loopback, record)
    assert refused.ephemeral and "`sref`" in refused.content and "IP-Adapter" in refused.content
    assert cbot.studio.queue.queue_length() == 0
