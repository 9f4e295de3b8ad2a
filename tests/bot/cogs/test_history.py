"""``/history`` and "Muralist history" through the loopback Discord: pages with persistent
buttons (also after a restart), search, a moderator's view of a member, deleting from the
history, re-running and "Use these settings"."""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from generation.engine_api import ImageEngine
from loopback import FakeUser, LoopbackDiscord, StoredMessage
from tests.bot.cogs.helpers import (
    CommunityBot,
    answer,
    community_bot,
    imagine,
    is_result,
    say,
    text_of,
)


async def painted(
    loopback: LoopbackDiscord, running: CommunityBot, user: FakeUser, **options: Any
) -> StoredMessage:
    """A result posted and recorded (the history lists it once its delivery has finished)."""
    result = await loopback.wait_original(await imagine(loopback, user, **options), is_result)
    await running.bot.idle()
    return result


async def walk(loopback: LoopbackDiscord, page: StoredMessage, user: FakeUser) -> list[str]:
    """Click "Older ▶" to the last page; the jobs shown on the way (the page ends on the last)."""
    shown = [job_of(page)]
    while not disabled(page, "Older ▶"):
        click = await loopback.click(page, page.button("Older ▶"), user=user)
        await loopback.wait_response(click)
        await loopback.wait_for(lambda: job_of(page) != shown[-1])
        shown.append(job_of(page))
    return shown


def job_of(message: StoredMessage) -> str:
    return message.embeds[0]["footer"]["text"].removeprefix("job ")


def disabled(message: StoredMessage, label: str) -> bool:
    for row in message.components:
        for child in row.get("components", []):
            if child.get("label") == label:
                return bool(child.get("disabled"))
    raise AssertionError(f"no {label!r}")


async def test_history_pages_search_and_a_moderators_view(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice, bob = loopback.add_user("alice"), loopback.add_user("bob")
    moderator = loopback.add_user("mod", moderator=True)
    fox = await painted(loopback, cbot, alice, prompt="a red fox in the snow")
    whale = await painted(loopback, cbot, alice, prompt="a blue whale")
    assert loopback.command("Muralist history", kind=2)["type"] == 2

    page = await say(loopback, "history", user=alice)
    assert page.ephemeral and "history: 1 of 2, newest first" in page.content
    assert job_of(page) == job_of(whale) and page.attachments
    shown = text_of(page)
    assert "a blue whale" in shown and "Seed" in shown and "Steps" in shown
    assert {"Upscale", "Vary (subtle)", "Use these settings"} <= {
        child.get("label") for row in page.components for child in row["components"]
    }
    assert not any(":report:" in c for c in page.custom_ids())  # no ⚠️ in one's own history
    assert disabled(page, "◀ Newer") and not disabled(page, "Older ▶")

    older = await loopback.click(page, page.button("Older ▶"), user=alice)
    await loopback.wait_response(older)
    await loopback.wait_for(lambda: job_of(page) == job_of(fox))
    assert "2 of 2" in page.content and disabled(page, "Older ▶")

    found = await say(loopback, "history", {"query": "foxes snow"}, user=alice)
    assert job_of(found) == job_of(fox) and "matching “foxes snow”: 1 of 1" in found.content
    nothing = await say(loopback, "history", {"query": "castle"}, user=alice)
    assert "No pictures" in nothing.content and not nothing.components

    refused = await say(loopback, "history", {"user": alice}, user=bob)
    assert refused.ephemeral and "Only moderators can see another member's history" in (
        refused.content
    )
    own = await say(loopback, "history", user=bob)
    assert "No pictures in" in own.content
    theirs = await answer(
        loopback, await loopback.user_command("Muralist history", alice, user=moderator)
    )
    assert theirs.ephemeral and job_of(theirs) == job_of(whale) and "1 of 2" in theirs.content


async def test_delete_rerun_and_settings_from_the_history(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice = loopback.add_user("alice")
    first = await painted(loopback, cbot, alice, prompt="an old mill", seed=21)
    second = await painted(loopback, cbot, alice, prompt="a windmill", seed=22)
    page = await say(loopback, "history", user=alice)
    assert job_of(page) == job_of(second)

    # Upscale from the history: a new public result in the channel.
    click = await loopback.click(page, page.button("Upscale"), user=alice)
    upscaled = await loopback.wait_original(click, is_result)
    await cbot.bot.idle()
    assert not upscaled.ephemeral and upscaled.embeds[0]["title"] == "Upscaled"

    # "Use these settings": the job's prompt and seed, prefilled, painted again as edited.
    opened = await loopback.click(page, page.button("Use these settings"), user=alice)
    rerun = await loopback.submit_modal(opened, {"prompt": "a windmill at night"})
    again = await loopback.wait_original(rerun, is_result)
    await cbot.bot.idle()
    request = cbot.studio.queue.get(job_of(again)).request
    assert (request.prompt, request.seed) == ("a windmill at night", 22)

    # Delete from the history: the page says so and the posted result goes too. The upscale
    # is a result of its own with the same prompt.
    page = await say(loopback, "history", {"query": "windmill"}, user=alice)
    upscale = job_of(upscaled)
    assert await walk(loopback, page, alice) == [job_of(again), upscale, job_of(second)]
    deleted = await loopback.click(page, page.button("🗑️"), user=alice)
    await loopback.wait_response(deleted)
    await loopback.wait_for(lambda: page.content == "🗑️ Deleted.")
    assert second.deleted and not first.deleted
    listing = await say(loopback, "history", user=alice)
    assert await walk(loopback, listing, alice) == [job_of(again), upscale, job_of(first)]

    # Deleting a posted result directly keeps it out of the history too.
    await loopback.click(first, first.button("🗑️"), user=alice)
    await loopback.wait_for(lambda: first.deleted)
    assert "1 of 2" in (await say(loopback, "history", user=alice)).content


async def test_history_buttons_work_after_a_restart(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    alice = loopback.add_user("alice")
    async with community_bot(loopback, settings, engine) as first_run:
        for prompt in ("a lighthouse", "a harbour"):
            await painted(loopback, first_run, alice, prompt=prompt)
        page = await say(loopback, "history", user=alice)
    async with community_bot(loopback, settings, engine):
        older = await loopback.click(page, page.button("Older ▶"), user=alice)
        await loopback.wait_response(older)
        await loopback.wait_for(lambda: "2 of 2" in page.content)
        assert "a lighthouse" in text_of(page)
