"""Studio hands safety every text that conditions an image and every verdict it has: words split
over prompt syntax, minors in age-restricted channels, and the model's own safety checker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from bot.config import Settings
from bot.wiring import open_studio
from generation.engine_api import ImageEngine
from generation.queue import JobStatus
from generation.requests import GenerationRequest, GenerationResult
from safety import ImageChecker
from safety.config import SafetyConfig
from studio import Blocked, Finished, ImagineOptions, Requester, Studio
from studio.errors import PromptBlocked
from tests.stand_ins import SwitchDetector
from tests.studio.conftest import outcome

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
AGE_RESTRICTED = Requester(user_id=1, guild_id=10, channel_id=200, channel_nsfw=True)


class ModelSaysNsfw:
    """The real engine, with the model's own safety checker flagging every image (the tiny
    model's checker, with random weights, never does)."""

    def __init__(self, engine: ImageEngine) -> None:
        self.engine = engine

    def generate(self, requests: Sequence[GenerationRequest], **kw: Any) -> list[GenerationResult]:
        results = self.engine.generate(requests, **kw)
        for result in results:
            result.images = [i.model_copy(update={"model_nsfw": True}) for i in result.images]
        return results


@pytest.mark.parametrize(
    "prompt",
    [
        "a nu BREAK de woman on a beach",
        "a (nak:1.1)(ed:1.1) woman on a beach",
        "a [clothed|nude] woman on a beach",
        "a [clothed:nude:1] woman on a beach",
        "a {clothed|nude} woman on a beach",
    ],
)
async def test_words_split_over_prompt_syntax_are_caught(studio: Studio, prompt: str) -> None:
    options = ImagineOptions(prompt=prompt, count=4, seed=0)
    if "{" in prompt:  # a wildcard: only when some image would really get the word
        built = studio.planner.plan(options).built
        assert any("nude" in t for t in (built.per_image_texts or [built.positive_text]))
    with pytest.raises(PromptBlocked):
        await studio.submit(options, ALICE)
    assert studio.queue.queue_length() == 0


async def test_minors_and_sexual_content_are_refused_even_where_nsfw_is_allowed(
    studio: Studio,
) -> None:
    studio.guilds.set_channel_nsfw(10, 99, 200, "allow")
    allowed = await studio.submit(
        ImagineOptions(prompt="a nude figure study", count=1), AGE_RESTRICTED
    )
    assert isinstance(await outcome(studio, allowed), Finished)
    for prompt in ("a sexy child", "a nude 12 year old", "a {clothed|nude} child"):
        with pytest.raises(PromptBlocked) as caught:
            await studio.submit(ImagineOptions(prompt=prompt, count=4, seed=1), AGE_RESTRICTED)
        assert caught.value.entry is not None and caught.value.entry.kind == "absolute_rule"


async def test_a_flagged_image_for_a_prompt_naming_a_minor_is_withheld_in_an_nsfw_channel(
    studio: Studio, detector: SwitchDetector
) -> None:
    studio.guilds.set_channel_nsfw(10, 99, 200, "allow")
    detector.flag = True
    adult = await studio.submit(ImagineOptions(prompt="a figure study", count=1), AGE_RESTRICTED)
    assert isinstance(await outcome(studio, adult), Finished)  # allowed here
    child = await studio.submit(
        ImagineOptions(prompt="a child playing in a park", count=1), AGE_RESTRICTED
    )
    event = await outcome(studio, child)
    assert isinstance(event, Blocked) and "withheld" in event.message
    assert studio.queue.get(child.job_id).status is JobStatus.BLOCKED


@pytest.fixture
async def flagging_studio(settings: Settings, studio_engine: ImageEngine) -> AsyncIterator[Studio]:
    checker = ImageChecker(SafetyConfig(), detector=SwitchDetector())
    async with open_studio(settings, ModelSaysNsfw(studio_engine), image_checker=checker) as s:
        yield s


async def test_the_models_own_safety_checker_counts(flagging_studio: Studio) -> None:
    submitted = await flagging_studio.submit(ImagineOptions(prompt="a red fox", count=2), ALICE)
    event = await outcome(flagging_studio, submitted)
    assert isinstance(event, Blocked) and "withheld" in event.message
    assert flagging_studio.queue.get(submitted.job_id).model_nsfw == [True, True]
