"""Members' commands through the loopback Discord: the synced tree, /styles, /queue, /cancel,
/info, /help and "Use these settings"."""

from __future__ import annotations

from loopback import LoopbackDiscord
from loopback.fixtures import MANAGE_GUILD, MANAGE_MESSAGES
from prompting import load_library
from tests.bot.cogs.helpers import (
    CommunityBot,
    answer,
    imagine,
    is_result,
    say,
    text_of,
)


async def test_synced_tree_is_valid_and_complete(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    # The loopback rejects (and the fixture fails on) any command breaking Discord's limits.
    assert not loopback.violations
    slash = {c["name"]: c for c in loopback.commands() if c["type"] == 1}
    assert {"imagine", "styles", "queue", "cancel", "info", "help", "settings", "mod"} <= set(slash)
    assert int(slash["settings"]["default_member_permissions"]) == MANAGE_GUILD
    assert int(slash["mod"]["default_member_permissions"]) == MANAGE_MESSAGES
    subcommands = {o["name"] for o in slash["settings"]["options"]}
    assert {
        "view",
        "defaults",
        "limits",
        "models",
        "nsfw",
        "term-add",
        "log-channel",
    } <= subcommands
    assert {o["name"] for o in slash["mod"]["options"]} == {"ban", "unban", "bans", "recent"}
    assert loopback.command("Use these settings", kind=3)["type"] == 3


async def test_styles_are_paged_with_buttons(loopback: LoopbackDiscord, cbot: CommunityBot) -> None:
    alice = loopback.add_user("alice")
    presets = list(load_library())
    first = await say(loopback, "styles", user=alice)
    assert first.ephemeral
    assert f"**{presets[0].name}** — {presets[0].description}" in text_of(first)
    assert presets[10].name not in text_of(first)
    pages = -(-len(presets) // 10)
    assert f"Page 1/{pages}" in text_of(first)

    click = await loopback.click(first, first.button("Next ▶"), user=alice)
    await loopback.wait_response(click)
    assert f"**{presets[10].name}**" in text_of(first) and f"Page 2/{pages}" in text_of(first)

    beyond = await say(loopback, "styles", {"page": 99}, user=alice)
    assert f"Page {pages}/{pages}" in text_of(beyond)


async def test_queue_and_cancel_with_autocomplete(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice, bob = loopback.add_user("alice"), loopback.add_user("bob")
    cbot.engine.gate.clear()  # the engine holds the first job: the second waits in the queue
    await imagine(loopback, alice, prompt="a running fox")
    queue = cbot.studio.queue
    await loopback.wait_for(lambda: queue.backend.free_slots("tiny") == 0)
    await imagine(loopback, alice, prompt="a waiting owl")
    await loopback.wait_for(lambda: queue.queue_length() == 1)

    shown = text_of(await say(loopback, "queue", user=alice))
    assert "a running fox — 🎨 painting now" in shown
    assert "a waiting owl — #1, ready in about" in shown
    assert "Waiting in this server\n1" in shown and "1 alive · 1/1 busy" in shown
    assert "none" in text_of(await say(loopback, "queue", user=bob)).split("Your jobs")[1]

    choices = await loopback.autocomplete("cancel", {"job": "owl"}, "job", user=alice)
    assert [c["name"] for c in choices] == ["queued: a waiting owl"]
    owl = choices[0]["value"]
    refused = await say(loopback, "cancel", {"job": owl}, user=bob)
    assert refused.ephemeral and "only the job's author or a moderator" in refused.content
    cancelled = await say(loopback, "cancel", {"job": owl}, user=alice)
    assert cancelled.content == f"✅ Job `{owl[:8]}` cancelled."
    assert queue.get(owl).status.value == "cancelled"
    unknown = await say(loopback, "cancel", {"job": "f" * 32}, user=alice)
    assert "no longer stored" in unknown.content or "does not exist" in unknown.content
    cbot.engine.gate.set()


async def test_info_and_help(loopback: LoopbackDiscord, cbot: CommunityBot) -> None:
    alice = loopback.add_user("alice")
    info = text_of(await say(loopback, "info", user=alice))
    worker = cbot.studio.queue.workers()[0]
    assert worker.device == "cpu"  # the engine's resolved device, not a placeholder
    assert "**tiny**" in info and f"Devices\n{worker.device}" in info and "Version" in info
    assert f"**in-process** · {worker.device} · 0/1 busy · any model" in info
    help_text = text_of(await say(loopback, "help", user=alice))
    for needle in ("Subject", "Lighting", "Composition", "(red scarf:1.3)", "red+", "{red|blue"):
        assert needle in help_text
    assert "/imagine prompt:" in help_text and "U1–U4" in help_text and "remix" in help_text


async def test_use_these_settings_prefills_a_modal(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice = loopback.add_user("alice")
    first = await imagine(loopback, alice, steps=3, cfg=5.5, seed=11, negative="blurry")
    result = await loopback.wait_original(first, is_result)

    opened = await loopback.message_command("Use these settings", result, user=alice)
    await loopback.wait_for(lambda: opened.modal is not None)
    assert opened.modal is not None
    # The current layout: each text input inside a Label (type 18), not an action row.
    assert {row["type"] for row in opened.modal["components"]} == {18}
    values = {
        row["component"]["custom_id"]: row["component"].get("value")
        for row in opened.modal["components"]
    }
    job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
    negative = cbot.studio.queue.get(job_id).request.negative_prompt
    assert "blurry" in negative  # the member's, with the model's default negative
    assert values == {
        "prompt": "a quiet harbour",
        "negative": negative,
        "steps": "3",
        "cfg": "5.5",
        "seed": "11",
    }
    bad = await loopback.submit_modal(opened, {"steps": "lots"})
    assert "`steps`" in (await answer(loopback, bad)).content

    again = await loopback.message_command("Use these settings", result, user=alice)
    edited = await loopback.submit_modal(again, {"prompt": "a stormy harbour", "steps": "2"})
    second = await loopback.wait_original(edited, is_result)
    job_id = second.embeds[0]["footer"]["text"].removeprefix("job ")
    request = cbot.studio.queue.get(job_id).request
    assert (request.prompt, request.steps, request.guidance, request.seed) == (
        "a stormy harbour",
        2,
        5.5,
        11,
    )

    not_ours = await loopback.message_command(
        "Use these settings", (await say(loopback, "help", user=alice)), user=alice
    )
    assert "not a Muralist result" in (await answer(loopback, not_ours)).content
