"""Each button under a result → a job with the right parameters, through the loopback Discord."""

from __future__ import annotations

import io
import re

from PIL import Image

from loopback import FakeUser, LoopbackDiscord, StoredMessage
from tests.bot.harness import RunningBot


def _done(message: StoredMessage) -> bool:
    """A result (embed) or a failure: stop waiting either way, the assertions tell which."""
    if message.content.startswith("❌"):
        raise AssertionError(message.content)
    return bool(message.embeds) and bool(message.components)


async def _imagine(loopback: LoopbackDiscord, user: FakeUser, **options: object) -> StoredMessage:
    values: dict[str, object] = {"prompt": "a red fox", "seed": 7, "count": 2, "steps": 3}
    values.update(options)
    record = await loopback.slash("imagine", values, user=user)
    return await loopback.wait_original(record, _done)


async def _click(
    loopback: LoopbackDiscord, message: StoredMessage, label: str, user: FakeUser
) -> StoredMessage:
    record = await loopback.click(message, message.button(label), user=user)
    return await loopback.wait_original(record, _done)


def _fields(message: StoredMessage) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


def _job(bot: RunningBot, message: StoredMessage) -> str:
    return str(message.embeds[0]["footer"]["text"]).removeprefix("job ")


async def test_reroll_variation_and_upscale(loopback: LoopbackDiscord, bot: RunningBot) -> None:
    alice = loopback.add_user("alice")
    grid = await _imagine(loopback, alice)

    reroll = await _click(loopback, grid, "🔄", alice)
    assert _fields(reroll)["Seeds"] != "7, 8"
    rerolled = bot.studio.queue.get(_job(bot, reroll))
    assert rerolled.request.prompt == "a red fox" and rerolled.request.count == 2

    vary = await _click(loopback, grid, "V2", alice)
    varied = bot.studio.queue.get(_job(bot, vary)).request
    assert (varied.seed, varied.count) == (8, 1)
    assert varied.subseed is not None and 0 < varied.subseed_strength < 0.5
    assert [c.get("label") for c in vary.components[0]["components"]] == [
        "Upscale",
        "Vary (subtle)",
        "Vary (strong)",
    ]
    strong = await _click(loopback, vary, "Vary (strong)", alice)
    assert bot.studio.queue.get(_job(bot, strong)).request.subseed_strength > 0.5

    upscale = await _click(loopback, grid, "U1", alice)
    assert _fields(upscale)["Size"] == "128×128"
    with Image.open(io.BytesIO(upscale.attachments[0].data)) as picture:
        assert picture.size == (128, 128)
    assert bot.studio.queue.get(_job(bot, upscale)).request.mode == "upscale"


async def test_upscaling_a_two_step_image_works(loopback: LoopbackDiscord, bot: RunningBot) -> None:
    """img2img runs steps × strength steps: the button must not ask for 0 (an engine error)."""
    ann = loopback.add_user("ann")
    grid = await _imagine(loopback, ann, steps=2)
    upscale = await _click(loopback, grid, "U1", ann)
    with Image.open(io.BytesIO(upscale.attachments[0].data)) as picture:
        assert picture.size == (128, 128)
    request = bot.studio.queue.get(_job(bot, upscale)).request
    assert request.mode == "upscale" and request.steps * request.strength >= 1


async def test_remix_opens_prefilled_modal(loopback: LoopbackDiscord, bot: RunningBot) -> None:
    bob = loopback.add_user("bob")
    grid = await _imagine(loopback, bob, count=1, style="watercolor")
    click = await loopback.click(grid, grid.button("✏️"), user=bob)
    await loopback.wait_for(lambda: click.modal is not None)
    assert click.modal is not None
    prefilled = click.modal["components"][0]["component"]["value"]  # inside a Label
    assert prefilled.startswith("watercolor painting of a red fox, soft washes")
    edited = prefilled.replace("red fox", "blue fox")
    submitted = await loopback.submit_modal(click, {"prompt": edited})
    remixed = await loopback.wait_original(submitted, _done)
    assert remixed.embeds[0]["description"] == edited
    assert _fields(remixed)["Steps"] == "3"


async def test_delete_only_by_requester_or_moderator(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    owner, stranger = loopback.add_user("owner"), loopback.add_user("stranger")
    moderator = loopback.add_user("mod", moderator=True)
    first = await _imagine(loopback, owner, count=1)
    refused = await loopback.click(first, first.button("🗑️"), user=stranger)
    reply = await loopback.wait_original(refused, lambda m: True)
    assert reply.ephemeral and "moderator" in reply.content
    assert not first.deleted

    await loopback.click(first, first.button("🗑️"), user=owner)
    await loopback.wait_for(lambda: first.deleted)

    second = await _imagine(loopback, owner, count=1)
    await loopback.click(second, second.button("🗑️"), user=moderator)
    await loopback.wait_for(lambda: second.deleted)


async def test_reports_are_recorded_and_hide_at_the_threshold(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    carol = loopback.add_user("carol")
    result = await _imagine(loopback, carol, count=1)
    readers = [loopback.add_user(f"reader{n}") for n in range(3)]  # reports_to_hide = 3

    async def report(user: FakeUser) -> str:
        record = await loopback.click(result, result.button("⚠️"), user=user)
        reply = await loopback.wait_original(record, lambda m: not m.loading)
        assert reply.ephemeral
        return reply.content

    assert "moderators will take a look" in await report(readers[0])
    assert "already reported" in await report(readers[0])
    assert "moderators will take a look" in await report(readers[1])
    assert not result.deleted
    assert "taken down" in await report(readers[2])
    assert result.deleted
    state = bot.studio.record.result_state(_job(bot, result))
    assert state.reports == 2 + 1


async def test_an_sdxl_upscale_says_the_size_it_made(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    """Upscales follow the family's rule (SDXL: ×1.5), and the embed shows the real size."""
    xavier = loopback.add_user("xavier")
    single = await _imagine(loopback, xavier, count=1, model="tiny-xl", steps=2)
    upscale = await _click(loopback, single, "Upscale", xavier)
    with Image.open(io.BytesIO(upscale.attachments[0].data)) as picture:
        assert picture.size == (96, 96)
    assert _fields(upscale)["Size"] == "96×96"


async def test_the_result_shows_the_prompts_token_count(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    tess = loopback.add_user("tess")
    long = "a lighthouse on a cliff above a stormy sea at dusk, " * 10
    result = await _imagine(loopback, tess, prompt=long, count=1)
    notes = _fields(result)["Prompt notes"]
    assert re.search(r"⚠️ \d+ tokens in 1 chunk\(s\)\n", notes) and "would drop" in notes
    assert "(estimated)" not in notes  # the model's own tokenizer counted them
