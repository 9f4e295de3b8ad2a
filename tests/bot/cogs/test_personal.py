"""/preferences, quotas and lanes through the loopback Discord: a member's own defaults reach
their jobs, an admin's quota refuses with when it frees up and /info shows what is left, and the
fast lane's roles are queued as such while everyone else is told the relax lane's honest ETA."""

from __future__ import annotations

from loopback import LoopbackDiscord
from loopback.fixtures import ADMIN_PERMISSIONS
from tests.bot.cogs.helpers import CommunityBot, answer, imagine, is_result, say, text_of


def job_of(message_embeds: list[dict[str, object]]) -> str:
    footer = message_embeds[0]["footer"]
    assert isinstance(footer, dict)
    return str(footer["text"]).removeprefix("job ")


async def test_preferences_are_shown_set_used_and_reset(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    alice = loopback.add_user("alice")
    saved = await say(
        loopback,
        "preferences set",
        {"count": 1, "steps": 3, "aspect": "2:3", "style": "anime", "negative": "smoke"},
        user=alice,
    )
    assert saved.ephemeral and saved.content == "✅ Saved."
    assert "steps: `3`" in text_of(saved) and "model: *the server's default*" in text_of(saved)

    record = await loopback.slash("imagine", {"prompt": "a quiet harbour"}, user=alice)
    result = await loopback.wait_original(record, is_result)
    request = cbot.studio.queue.get(job_of(result.embeds)).request
    assert (request.count, request.steps) == (1, 3) and request.height > request.width
    assert "anime" in request.prompt.lower() and "smoke" in request.negative_prompt

    bad = await say(loopback, "preferences set", {"model": "sd-ultra"}, user=alice)
    assert bad.ephemeral and "`model`" in bad.content and "tiny" in bad.content
    nothing = await say(loopback, "preferences set", user=alice)
    assert "`preferences`" in nothing.content and "give at least one" in nothing.content
    await say(loopback, "preferences reset", {"preference": "steps"}, user=alice)
    shown = text_of(await say(loopback, "preferences show", user=alice))
    assert "steps: *the server's default*" in shown and "count: `1`" in shown
    cleared = text_of(await say(loopback, "preferences reset", user=alice))
    assert "count: *the server's default*" in cleared


async def test_quotas_refuse_with_when_they_free_up_and_info_shows_whats_left(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    member = loopback.add_user("member")
    booster = loopback.add_user("booster", roles=[loopback.guild.booster_role_id])
    done = await say(loopback, "settings quotas", {"hourly": 2, "daily": 20}, user=admin)
    assert done.content.startswith("✅ Quotas set: hourly = 2, daily = 20")
    # Out of the declared range: refused at the bot's boundary, naming the option as typed.
    bad = await say(loopback, "settings quotas", {"hourly": 0}, user=admin)
    assert "`hourly`" in bad.content and "1..100000" in bad.content
    await say(
        loopback,
        "settings quota-exempt",
        {"role": str(loopback.guild.booster_role_id)},
        user=admin,
    )
    view = text_of(await say(loopback, "settings view", user=admin))
    assert "per member: `2` an hour, `20` a day (images" in view
    assert f"exempt: <@&{loopback.guild.booster_role_id}>" in view

    await loopback.wait_original(await imagine(loopback, member, count=2), is_result)
    refused = await answer(loopback, await imagine(loopback, member, count=1))
    assert refused.ephemeral and refused.content.startswith("⏳ your hourly quota here is spent")
    assert "2 of 2 images used" in refused.content and "it frees up at" in refused.content
    info = text_of(await say(loopback, "info", user=member))
    assert "0 of 2 images left this hour" in info and "18 of 20 images left this day" in info
    assert "🐢 relax lane" in info
    for _ in range(2):  # the exempt role paints past the quota
        await loopback.wait_original(await imagine(loopback, booster, count=2), is_result)
    assert "exempt from the quota" in text_of(await say(loopback, "info", user=booster))


async def test_the_fast_lane_and_the_relax_lanes_honest_eta(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    booster = loopback.add_user("booster", roles=[loopback.guild.booster_role_id])
    first, second = loopback.add_user("first"), loopback.add_user("second")
    role = str(loopback.guild.booster_role_id)
    done = await say(loopback, "settings fast-role", {"role": role}, user=admin)
    assert done.content == f"✅ Fast lane for <@&{role}>: on"

    cbot.engine.gate.clear()  # the first job holds the engine: the others wait in the queue
    await imagine(loopback, first)
    queue = cbot.studio.queue
    await loopback.wait_for(lambda: queue.backend.free_slots("tiny") == 0)
    relax = [await imagine(loopback, second, prompt=f"relax {n}") for n in range(2)]
    await loopback.wait_for(lambda: queue.queue_length() == 2)
    fast = [await imagine(loopback, booster, prompt=f"fast {n}") for n in range(2)]
    await loopback.wait_for(lambda: queue.queue_length() == 4)
    # Each in turn inside a lane, the fast lane twice as often: the booster's second job goes
    # before the relax member's second, which waited longer.
    order = [job.user_id for job in queue.scheduler.order()]
    assert order == [str(second.id), str(booster.id), str(booster.id), str(second.id)]
    for record in relax:
        relaxed = await loopback.wait_original(record, lambda m: "Queued" in m.content)
        assert "🐢 relax lane" in relaxed.content
        assert "if no fast-lane job arrives first" in relaxed.content
    places = set()
    for record in fast:
        hurried = await loopback.wait_original(record, lambda m: "Queued" in m.content)
        assert "⚡ fast lane:" in hurried.content
        places.add(hurried.content.split("lane: ")[1].split(",")[0])
    assert places == {"#2 in the queue", "#3 in the queue"}
    cbot.engine.gate.set()
    for record in (*relax, *fast):
        await loopback.wait_original(record, is_result)
