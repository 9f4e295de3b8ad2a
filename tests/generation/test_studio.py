"""The studio's rules on the real queue, SQLite and the tiny engine: options → requests, the
requests derived from a stored job, the ban, prompt and image checks, and delivery bookkeeping."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from generation.config import EngineConfig, QueueConfig
from generation.engine import DiffusersEngine
from generation.errors import InvalidRequest
from generation.queue import JobStatus, NotAllowed
from generation.queue.factory import open_queue
from generation.studio import VARIATION_STRENGTH, Studio, StudioOptions, denoising_steps
from generation.studio_types import (
    Blocked,
    Failed,
    Finished,
    GuildRules,
    ImagineOptions,
    JobEvent,
    PromptBlocked,
    Requester,
    Submitted,
)
from prompting.config import PromptingConfig
from safety import GuildSafety, GuildTerm, ImageChecker, ModerationRecord
from safety.config import SafetyConfig

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
BOB = Requester(user_id=2, guild_id=10, channel_id=100)


class SwitchDetector:
    """Stands in for NudeNet, which rightly never flags the tiny model's noise, so a test can
    reach the flagged-image paths."""

    def __init__(self) -> None:
        self.flag = False

    def detect(self, image: Any) -> list[dict[str, Any]]:
        if not self.flag:
            return []
        return [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.93, "box": [0, 0, 8, 8]}]


@pytest.fixture
def detector() -> SwitchDetector:
    return SwitchDetector()


@pytest.fixture
async def studio(
    tmp_path: Path,
    engine: DiffusersEngine,
    engine_config: EngineConfig,
    detector: SwitchDetector,
) -> AsyncIterator[Studio]:
    config = QueueConfig(
        db_path=tmp_path / "state.db",
        images_dir=tmp_path / "images",
        progress_interval_seconds=0.0,
    )
    config.images_dir.mkdir()
    queue = open_queue(config, engine)
    record = ModerationRecord(config.db_path)
    safety = SafetyConfig()
    studio = Studio(
        queue,
        record,
        engine=engine_config.model_copy(update={"default_steps": 2}),
        prompting=PromptingConfig(),
        safety=safety,
        options=StudioOptions(image_side=64, default_count=2),
        image_checker=ImageChecker(safety, detector=detector),
    )
    await queue.start()
    try:
        yield studio
        # Let the jobs a test left behind finish: the runner's close does not wait for the
        # engine's thread, and the next test's engine shares the loaded pipeline.
        for _ in range(1200):
            if not queue.store.by_status(JobStatus.QUEUED, JobStatus.RUNNING):
                break
            await asyncio.sleep(0.05)
    finally:
        await queue.close()
        queue.store.close()
        record.close()


async def outcome(studio: Studio, submitted: Submitted) -> JobEvent:
    """The job's last event: Finished, Failed or Blocked."""
    last: JobEvent | None = None
    async for event in studio.events(submitted.job_id):
        last = event
    assert last is not None
    return last


async def finished(studio: Studio, submitted: Submitted) -> Finished:
    event = await outcome(studio, submitted)
    assert isinstance(event, Finished), event
    return event


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
    rules = GuildRules(steps=3, cfg=4.5, aspect="16:9", negative="blurry")
    house = Requester(user_id=1, guild_id=10, channel_id=100, rules=rules)
    submitted = await studio.submit(ImagineOptions(prompt="a red fox", count=1), house)
    request = studio.queue.get(submitted.job_id).request
    assert (request.steps, request.guidance, request.model) == (3, 4.5, "tiny")
    assert request.width > request.height and "blurry" in request.negative_prompt
    mine = await studio.submit(ImagineOptions(prompt="a red fox", count=1, steps=2), house)
    assert studio.queue.get(mine.job_id).request.steps == 2  # the user's choice wins
    job = (await finished(studio, mine)).job

    other = next(name for name in studio.catalog.names() if name != "tiny")
    only_other = Requester(
        user_id=1, guild_id=10, channel_id=100, rules=GuildRules(allowed_models=(other,))
    )
    assert await studio.choices("model", only_other) == [other]
    assert "tiny" in await studio.choices("model", ALICE)
    with pytest.raises(InvalidRequest) as caught:
        await studio.submit(ImagineOptions(prompt="a red fox", model="tiny"), only_other)
    assert caught.value.field == "model" and other in caught.value.message
    with pytest.raises(InvalidRequest, match="no longer allowed"):
        await studio.derive(job.job_id, "reroll", None, only_other)
    with pytest.raises(InvalidRequest, match="no longer allowed"):
        await studio.remix(job.job_id, "a blue fox", only_other)
    refused = studio.queue.store.by_status(JobStatus.QUEUED, JobStatus.RUNNING)
    assert refused == []


async def test_a_blocked_prompt_is_recorded_and_never_queued(studio: Studio) -> None:
    strict = Requester(
        user_id=1, guild_id=10, channel_id=100, safety=GuildSafety(terms=(GuildTerm(text="fox"),))
    )
    with pytest.raises(PromptBlocked) as caught:
        await studio.submit(ImagineOptions(prompt="a red fox"), strict)
    assert studio.queue.queue_length() == 0
    entries = studio.record.recent(10, 10)
    assert [(e.kind, e.user_id) for e in entries] == [("blocked_prompt", 1)]
    assert caught.value.entry == entries[0]  # what the moderators' log is told


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
    assert request.mode == "upscale" and request.init_image == job.images[0].png
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
    with pytest.raises(NotAllowed, match="spamming the channel"):
        await studio.derive(job.job_id, "reroll", None, BOB)

    strict = Requester(
        user_id=1, guild_id=10, channel_id=100, safety=GuildSafety(terms=(GuildTerm(text="fox"),))
    )
    with pytest.raises(PromptBlocked):
        await studio.derive(job.job_id, "vary_subtle", 0, strict)
    assert studio.queue.queue_length() == 0
    assert [e.kind for e in studio.record.recent(10, 10, ("blocked_prompt",))] == ["blocked_prompt"]


async def test_remix_keeps_the_settings_and_checks_the_new_prompt(studio: Studio) -> None:
    first = await studio.submit(ImagineOptions(prompt="a red fox", count=1, seed=3), ALICE)
    job = (await finished(studio, first)).job
    assert studio.prompt_of(job).startswith("a red fox")

    remixed = await studio.remix(job.job_id, "a blue fox", ALICE)
    request = studio.queue.get(remixed.job_id).request
    assert request.prompt == "a blue fox" and request.seed is None
    assert (request.steps, request.count, request.model) == (2, 1, "tiny")

    strict = Requester(
        user_id=1, guild_id=10, channel_id=100, safety=GuildSafety(terms=(GuildTerm(text="blue"),))
    )
    with pytest.raises(PromptBlocked):
        await studio.remix(job.job_id, "a blue fox", strict)


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
    assert event.logged == (flagged[0],)

    lenient = Requester(
        user_id=1, guild_id=10, channel_id=100, safety=GuildSafety(sfw_action="blur_spoiler")
    )
    blurred = await studio.submit(ImagineOptions(prompt="a red fox", count=1), lenient)
    done = await finished(studio, blurred)
    assert [image.spoiler for image in done.job.images] == [True]
    assert [(e.kind, e.job_id) for e in done.logged] == [("flagged_image", blurred.job_id)]
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

    assert await studio.delivered(job_id, "channel 100 no longer exists") is False
    assert studio.delivery_problems[job_id] == "channel 100 no longer exists"
    assert await studio.result_message("0" * 32) is None


async def test_only_the_requester_or_a_moderator_may_delete_and_reports_count_once(
    studio: Studio,
) -> None:
    submitted = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    await finished(studio, submitted)
    await studio.delete(submitted.job_id, ALICE)
    await studio.delete(submitted.job_id, Requester(2, 10, 100, is_moderator=True))
    with pytest.raises(NotAllowed):
        await studio.delete(submitted.job_id, BOB)

    first = await studio.report(submitted.job_id, BOB, "not nice")
    again = await studio.report(submitted.job_id, BOB, "not nice")
    assert first.accepted and not again.accepted and again.entries == ()
    reports = studio.record.recent(10, 10, ("report",))
    assert [(e.job_id, e.actor_id, e.user_id) for e in reports] == [(submitted.job_id, 2, 1)]
    assert first.entries == (reports[0],) and not first.hidden

    second = await studio.report(submitted.job_id, Requester(3, 10, 100), "no")
    third = await studio.report(submitted.job_id, Requester(4, 10, 100), "no")
    assert not second.hidden and third.hidden
    assert [e.kind for e in third.entries] == ["report", "hidden"]
    assert all(e.job_id == submitted.job_id for e in third.entries)


async def test_a_cancelled_job_leaves_nothing_behind_in_the_studio(studio: Studio) -> None:
    running = await studio.submit(ImagineOptions(prompt="a red fox", count=1), ALICE)
    waiting = await studio.submit(ImagineOptions(prompt="a blue fox", count=1), BOB)
    assert await studio.queue.cancel(waiting.job_id, user_id="2") is JobStatus.CANCELLED
    assert isinstance(await outcome(studio, waiting), Failed)
    await finished(studio, running)
    assert studio._asked == {}  # what each job was asked with is kept until its last event
