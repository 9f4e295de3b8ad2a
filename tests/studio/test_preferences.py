"""A member's own defaults: under what they type, above the guild's defaults, within its limits."""

from __future__ import annotations

import pytest

from studio import ImagineOptions, Requester, Studio
from studio.errors import InvalidSetting
from tests.studio.conftest import finished

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
ADMIN = 99


async def test_preferences_fill_what_the_member_leaves_out(studio: Studio) -> None:
    studio.guilds.set_many(10, ADMIN, {"default_steps": 3, "default_aspect": "16:9"})
    desk = studio.preferences
    await desk.set(
        ALICE,
        {"style": "anime", "aspect": "2:3", "count": 1, "steps": 4, "negative": "crowds, smoke"},
    )
    submitted = await studio.submit(ImagineOptions(prompt="a red fox"), ALICE)
    request = studio.queue.get(submitted.job_id).request
    assert (request.steps, request.count) == (4, 1)
    assert request.height > request.width  # 2:3 over the guild's 16:9
    assert "anime" in request.prompt.lower() and "smoke" in request.negative_prompt
    await finished(studio, submitted)

    typed = ImagineOptions(prompt="a red fox", steps=2, count=2, aspect="1:1", negative="fog")
    mine = await studio.submit(typed, ALICE)
    request = studio.queue.get(mine.job_id).request
    assert (request.steps, request.count, request.width) == (2, 2, request.height)
    assert "fog" in request.negative_prompt and "smoke" not in request.negative_prompt
    await finished(studio, mine)

    # Without a steps preference the preferred style's own steps hold (a preset's settings come
    # before the guild's defaults), and without a style the guild's default again; another
    # guild never sees them.
    await desk.reset(ALICE, "steps")
    after = await studio.submit(ImagineOptions(prompt="a red fox"), ALICE)
    anime = studio.planner.presets.get("anime").steps
    assert anime is not None and studio.queue.get(after.job_id).request.steps == anime
    await finished(studio, after)
    await desk.reset(ALICE, "style")
    after = await studio.submit(ImagineOptions(prompt="a red fox"), ALICE)
    assert studio.queue.get(after.job_id).request.steps == 3
    await finished(studio, after)
    elsewhere = Requester(user_id=1, guild_id=11, channel_id=110)
    assert (await desk.view(elsewhere)).given() == {}
    # "Use these settings" is a whole job's settings: no preference is added to it.
    reused = await studio.submit(ImagineOptions(prompt="a red fox"), ALICE, personal=False)
    assert "anime" not in studio.queue.get(reused.job_id).request.prompt.lower()
    await finished(studio, reused)

    assert (await desk.reset(ALICE)).given() == {}


async def test_a_preferred_model_stays_within_the_guilds_limits(studio: Studio) -> None:
    desk = studio.preferences
    await desk.set(ALICE, {"model": "tiny-xl"})
    studio.guilds.set_allowed_models(10, ADMIN, ["tiny"])
    submitted = await studio.submit(ImagineOptions(prompt="a boat", count=1), ALICE)
    assert studio.queue.get(submitted.job_id).request.model == "tiny"
    assert any("tiny-xl" in warning for warning in submitted.warnings)
    await finished(studio, submitted)

    with pytest.raises(InvalidSetting) as caught:
        await desk.set(ALICE, {"model": "tiny-xl"})
    assert caught.value.field == "model" and "tiny" in caught.value.message


@pytest.mark.parametrize(
    ("values", "field", "allowed"),
    [
        ({"count": 9}, "count", "1..4"),
        ({"steps": 0}, "steps", "1..150"),
        ({"aspect": "5:1"}, "aspect", "1:1"),
        ({"style": "no-such-style"}, "style", "/styles"),
        ({"model": "/etc/passwd"}, "model", "tiny"),
        ({"negative": "x" * 1501}, "negative", "1500"),
        ({}, "preferences", "model"),
    ],
)
async def test_a_bad_preference_names_the_field_and_the_range(
    studio: Studio, values: dict[str, object], field: str, allowed: str
) -> None:
    with pytest.raises(InvalidSetting) as caught:
        await studio.preferences.set(ALICE, values)
    assert caught.value.field == field and allowed in caught.value.message
    assert (await studio.preferences.view(ALICE)).given() == {}


async def test_a_draft_preference_paints_drafts_until_the_member_says_otherwise(
    studio: Studio,
) -> None:
    desk = studio.preferences
    await desk.set(ALICE, {"draft": True})
    drafted = await studio.submit(ImagineOptions(prompt="a red fox", model="tiny"), ALICE)
    model = studio.queue.get(drafted.job_id).request.model
    spec = studio.planner.catalog.resolve(model)
    assert spec.draft_of == "tiny"  # the family's fast entry, made for the model asked for
    await finished(studio, drafted)

    full = await studio.submit(ImagineOptions(prompt="a red fox", model="tiny", draft=False), ALICE)
    assert studio.queue.get(full.job_id).request.model == "tiny"  # typed False wins
    await finished(studio, full)
    assert "draft" not in (await desk.reset(ALICE, "draft")).given()
