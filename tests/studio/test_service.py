"""Studio's rules on the real queue, SQLite and the tiny engine: options → requests, the
requests derived from a stored job, the ban, prompt and image checks, and delivery bookkeeping."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from generation.queue import JobStatus, NotAllowed
from studio import (
    ApprovalNotice,
    Blocked,
    Failed,
    ImagineOptions,
    LogNotice,
    Requester,
    Studio,
)
from studio.derivations import VARIATION_STRENGTH, denoising_steps
from studio.errors import InvalidRequest, PromptBlocked, Refused
from tests.stand_ins import SwitchDetector
from tests.studio.conftest import finished, no_notice, notices, outcome

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
BOB = Requester(user_id=2, guild_id=10, channel_id=100)
ADMIN = 99


def size_of(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as picture:
        return picture.size


async def test_options_become_a_request_with_the_studios_defaults(studio: Studio) -> None:
    submitted = await studio.submit(ImagineOptions(prompt="a red fox", seed=7), ALICE)
    request = studio.queue.get(submitted.job_id).request
    assert (request.steps, request.count, request.width, request.height) == (2, 2, 64, 64)
    assert request.model == "tiny" and request.prompt.startswith("a red fox")
    done = await finished(studio, submitted)
    assert [image.seed for image in done.job.images] == [7, 8]
    assert [size_of(image.png) for image in done.job.images] == [(64, 64), (64, 64)]

    wide = await studio.submit(ImagineOptions(prompt="a red fox", aspect="16:9", count=1), ALICE)
    request = studio.queue.get(wide.job_id).request
    assert request.width > request.height and request.count == 1


async def test_an_unknown_model_is_refused_naming_the_field_and_the_choices(
    studio: Studio,
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await studio.submit(ImagineOptions(prompt="a red fox", model="/etc/passwd"), ALICE)
    assert caught.value.field == "model" and "tiny" in caught.value.message
    assert studio.queue.queue_length() == 0


async def test_a_guilds_defaults_fill_what_the_user_left_out_and_its_models_are_enforced(
    studio: Studio,
) -> None:
    studio.guilds.set_many(
        10, ADMIN, {"default_steps": 3, "default_cfg": 4.5, "default_aspect": "16:9"}
    )
    studio.guilds.set(10, ADMIN, "default_negative", "blurry")
    house = ALICE
    submitted = await studio.submit(ImagineOptions(prompt="a red fox", count=1), house)
    request = studio.queue.get(submitted.job_id).request
    assert (request.steps, request.guidance, request.model) == (3, 4.5, "tiny")
    assert request.width > request.height and "blurry" in request.negative_prompt
    mine = await studio.submit(ImagineOptions(prompt="a red fox", count=1, steps=2), house)
    assert studio.queue.get(mine.job_id).request.steps == 2  # the user's choice wins
    job = (await finished(studio, mine)).job

    other = next(name for name in studio.model_names() if name != "tiny")
    elsewhere = Requester(user_id=1, guild_id=11, channel_id=110)
    assert "tiny" in await studio.choices("model", elsewhere)
    studio.guilds.set_allowed_models(10, ADMIN, [other])
    only_other = ALICE
    assert await studio.choices("model", only_other) == [other]
    assert "tiny" in await studio.choices("model", elsewhere)
    with pytest.raises(InvalidRequest) as caught:
        await studio.submit(ImagineOptions(prompt="a red fox", model="tiny"), only_other)
    assert caught.value.field == "model" and other in caught.value.message
    with pytest.raises(InvalidRequest, match="no longer allowed"):
        await studio.derive(job.job_id, "reroll", None, only_other)
    with pytest.raises(InvalidRequest, match="no longer allowed"):
        await studio.remix(job.job_id, "a blue fox", only_other)
    refused = studio.queue.store.by_status(JobStatus.QUEUED, JobStatus.RUNNING)
    assert refused == []


async def test_a_blocked_prompt_is_recorded_told_to_the_log_and_never_queued(
    studio: Studio,
) -> None:
    studio.guilds.add_term(10, ADMIN, "fox")
    with pytest.raises(PromptBlocked) as caught:
        await studio.submit(ImagineOptions(prompt="a red fox"), ALICE)
    assert studio.queue.queue_length() == 0
    entries = studio.record.recent(10, 10, ("blocked_prompt",))
    assert [(e.kind, e.user_id) for e in entries] == [("blocked_prompt", 1)]
    assert caught.value.entry == entries[0]
    assert await no_notice(studio)  # no log channel set: nothing to post

    studio.guilds.set(10, ADMIN, "mod_log_channel", 500)
    with pytest.raises(PromptBlocked):
        await studio.submit(ImagineOptions(prompt="a blue fox"), ALICE)
    [told] = await notices(studio, 1)
    assert isinstance(told, LogNotice) and told.channel_id == 500
    assert told.entry.kind == "blocked_prompt" and told.entry.details["prompt"] == "a blue fox"


async def test_every_wildcard_variant_is_checked_not_only_the_first(studio: Studio) -> None:
    studio.guilds.add_term(10, ADMIN, "dragon")
    hidden_later = 0
    for seed in range(12):
        options = ImagineOptions(prompt="a {cat|dragon} in a field", count=4, seed=seed)
        built = studio.planner.plan(options).built
        first, *others = built.per_image_texts or [built.positive_text]
        painted = {first, *others}
        hidden_later += "dragon" not in first and any("dragon" in o for o in others)
        if any("dragon" in text for text in painted):
            with pytest.raises(PromptBlocked):
                await studio.submit(options, ALICE)
        else:
            await studio.queue.cancel((await studio.submit(options, ALICE)).job_id, user_id="1")
    assert hidden_later  # the case that leaked: a cat first, a dragon in a later image
    assert studio.queue.queue_length() == 0


async def test_buttons_derive_requests_from_the_stored_job(studio: Studio) -> None:
    first = await studio.submit(ImagineOptions(prompt="a red fox", seed=7), ALICE)
    job = (await finished(studio, first)).job

    reroll = studio.queue.get((await studio.derive(job.job_id, "reroll", None, BOB)).job_id)
    assert reroll.request.seed is None and reroll.request.count == 2
    assert reroll.origin.parent_job_id == job.job_id and reroll.user_id == "2"

    for action in ("vary_subtle", "vary_strong"):
        varied = await studio.derive(job.job_id, action, 1, ALICE)  # type: ignore[arg-type]
        request = studio.queue.get(varied.job_id).request
        assert (request.seed, request.count, request.mode) == (8, 1, "txt2img")
        assert request.subseed is not None
        assert request.subseed_strength == VARIATION_STRENGTH[action]

    with pytest.raises(InvalidRequest) as caught:
        await studio.derive(job.job_id, "upscale", 2, ALICE)
    assert caught.value.field == "index" and "image 3" in caught.value.message


async def test_upscaling_a_two_step_image_runs_at_least_one_denoising_step(
    studio: Studio,
) -> None:
    first = await studio.submit(ImagineOptions(prompt="a red fox", count=1, steps=2), ALICE)
    job = (await finished(studio, first)).job
    upscale = await studio.derive(job.job_id, "upscale", 0, ALICE)
    request = studio.queue.get(upscale.job_id).request
    stored = studio.queue.store.inputs.attach(request)  # rows keep the picture's hash only
    assert request.mode == "upscale" and stored.init_image == job.images[0].png
    assert request.steps == 3 and int(request.steps * request.strength) == 1
    done = await finished(studio, upscale)
    assert [size_of(image.png) for image in done.job.images] == [(128, 128)]

    # An upscale stored with too few steps (before this rule): its reroll gets enough.
    old = request.model_copy(update={"steps": 2, "seed": 1})
    ticket = await studio.queue.submit(guild_id="10", channel_id="100", user_id="1", request=old)
    again = await studio.derive(ticket.job_id, "reroll", None, ALICE)
    assert studio.queue.get(again.job_id).request.steps == 3
    assert [size_of(i.png) for i in (await finished(studio, again)).job.images] == [(128, 128)]


def test_denoising_steps_keep_enough_steps_and_never_lower_them() -> None:
    for strength in (0.05, 0.2, 0.35, 0.6, 0.99, 1.0):
        for steps in range(1, 30):
            chosen = denoising_steps(steps, strength)
            assert int(chosen * strength) >= 1
            assert chosen == steps if int(steps * strength) >= 1 else chosen > steps


async def test_a_derived_job_is_stopped_by_a_ban_or_a_term_added_since(studio: Studio) -> None:
    first = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    job = (await finished(studio, first)).job

    studio.record.ban(10, 2, by=1, reason="spamming the channel")
    with pytest.raises(Refused, match="spamming the channel"):
        await studio.derive(job.job_id, "reroll", None, BOB)

    studio.guilds.add_term(10, ADMIN, "fox")
    with pytest.raises(PromptBlocked):
        await studio.derive(job.job_id, "vary_subtle", 0, ALICE)
    assert studio.queue.queue_length() == 0
    assert [e.kind for e in studio.record.recent(10, 10, ("blocked_prompt",))] == ["blocked_prompt"]


async def test_remix_keeps_the_settings_and_checks_the_new_prompt(studio: Studio) -> None:
    first = await studio.submit(ImagineOptions(prompt="a red fox", count=1, seed=3), ALICE)
    job = (await finished(studio, first)).job
    assert studio.remix_prompt(job).startswith("a red fox")

    remixed = await studio.remix(job.job_id, "a blue fox", ALICE)
    request = studio.queue.get(remixed.job_id).request
    assert request.prompt == "a blue fox" and request.seed is None
    assert (request.steps, request.count, request.model) == (2, 1, "tiny")

    studio.guilds.add_term(10, ADMIN, "blue")
    with pytest.raises(PromptBlocked):
        await studio.remix(job.job_id, "a blue fox", ALICE)


async def test_flagged_images_are_withheld_or_blurred_as_the_guild_chose(
    studio: Studio, detector: SwitchDetector
) -> None:
    detector.flag = True
    withheld = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    event = await outcome(studio, withheld)
    assert isinstance(event, Blocked) and "withheld" in event.message
    assert studio.queue.get(withheld.job_id).status is JobStatus.BLOCKED
    flagged = studio.record.recent(10, 10, ("flagged_image",))
    assert [e.job_id for e in flagged] == [withheld.job_id]

    studio.guilds.set(10, ADMIN, "nsfw_policy", "blur_spoiler")
    studio.guilds.set(10, ADMIN, "mod_log_channel", 500)
    blurred = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    done = await finished(studio, blurred)
    assert [image.spoiler for image in done.job.images] == [True]
    [told] = await notices(studio, 1)
    assert isinstance(told, LogNotice)
    assert (told.entry.kind, told.entry.job_id) == ("flagged_image", blurred.job_id)
    original = studio.queue.get(blurred.job_id).image_paths[0].read_bytes()
    assert done.job.images[0].png != original


async def test_delivery_records_once_and_keeps_where_the_result_was_posted(
    studio: Studio,
) -> None:
    submitted = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    await finished(studio, submitted)
    job_id = submitted.job_id
    assert await studio.result_message(job_id) is None
    assert [o.job_id for o in await studio.orphans()] == [job_id]

    assert await studio.delivered(job_id, channel_id=100, message_id=555) is True
    assert await studio.result_message(job_id) == (100, 555)
    assert await studio.orphans() == []
    # Posted again later (approved by a moderator): not a second delivery, but the new place.
    assert await studio.delivered(job_id, channel_id=101, message_id=777) is False
    assert await studio.result_message(job_id) == (101, 777)

    await studio.undeliverable(job_id, "channel 100 no longer exists")
    assert studio.deliveries.notes(job_id).problem == "channel 100 no longer exists"
    assert await studio.result_message("0" * 32) is None


async def test_only_the_requester_or_a_moderator_may_delete_and_reports_count_once(
    studio: Studio,
) -> None:
    submitted = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    await finished(studio, submitted)
    await studio.delete(submitted.job_id, ALICE)
    await studio.delete(submitted.job_id, Requester(2, 10, 100, manage_messages=True))
    studio.guilds.set(10, ADMIN, "moderator_role", 77)
    await studio.delete(submitted.job_id, Requester(2, 10, 100, role_ids=(5, 77)))
    with pytest.raises(NotAllowed):
        await studio.delete(submitted.job_id, BOB)

    studio.guilds.set(10, ADMIN, "mod_log_channel", 500)
    first = await studio.report(submitted.job_id, BOB, "not nice")
    [told] = await notices(studio, 1)
    again = await studio.report(submitted.job_id, BOB, "not nice")
    assert first.accepted and not again.accepted and await no_notice(studio)
    reports = studio.record.recent(10, 10, ("report",))
    assert [(e.job_id, e.actor_id, e.user_id) for e in reports] == [(submitted.job_id, 2, 1)]
    assert isinstance(told, LogNotice) and told.entry == reports[0] and not first.hidden

    second = await studio.report(submitted.job_id, Requester(3, 10, 100), "no")
    third = await studio.report(submitted.job_id, Requester(4, 10, 100), "no")
    assert not second.hidden and third.hidden
    told_now = await notices(studio, 3)
    assert [n.entry.kind for n in told_now if isinstance(n, LogNotice)] == [
        "report",
        "report",
        "hidden",
    ]
    assert all(n.entry.job_id == submitted.job_id for n in told_now if isinstance(n, LogNotice))


async def test_a_cancelled_job_leaves_nothing_behind_in_the_studio(studio: Studio) -> None:
    running = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    waiting = await studio.submit(ImagineOptions(prompt="a blue fox", count=1), BOB)
    assert await studio.queue.cancel(waiting.job_id, user_id="2") is JobStatus.CANCELLED
    assert isinstance(await outcome(studio, waiting), Failed)
    await finished(studio, running)


async def test_approval_holds_a_result_until_a_moderator_decides_and_survives_restarts(
    studio: Studio,
) -> None:
    studio.guilds.set_approval(10, ADMIN, 100, True)
    first = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    event = await outcome(studio, first)
    assert isinstance(event, Blocked) and "no moderators' channel" in event.message

    studio.guilds.set(10, ADMIN, "mod_log_channel", 500)
    held = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    event = await outcome(studio, held)
    assert isinstance(event, Blocked) and "approval" in event.message
    [approval] = await notices(studio, 1)
    assert isinstance(approval, ApprovalNotice) and approval.channel_id == 500
    assert approval.job.job_id == held.job_id and approval.entry.kind == "hidden"
    assert studio.deliveries.notes(held.job_id).held  # persisted: a restart keeps it

    moderator = Requester(9, 10, 100, manage_messages=True)
    with pytest.raises(Refused):
        await studio.decide(BOB, "approve", approval.entry.id, held.job_id, 1)
    decided = await studio.decide(moderator, "approve", approval.entry.id, held.job_id, 1)
    assert decided.post is not None and decided.post.job_id == held.job_id
    assert len(decided.post.images) == 1 and not studio.deliveries.notes(held.job_id).held
    assert studio.record.result_state(held.job_id).status == "approved"

    rejected = await studio.decide(moderator, "reject", approval.entry.id, first.job_id, 1)
    assert rejected.post is None and rejected.take_down is None  # never posted
    assert studio.record.result_state(first.job_id).status == "removed"
