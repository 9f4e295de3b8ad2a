"""Requests derived from a stored one, without an engine: what each button changes and keeps."""

from __future__ import annotations

import pytest

from generation.requests import GenerationRequest, PromptEdit
from prompting import build
from studio import derivations
from studio.errors import InvalidRequest

STORED = GenerationRequest(
    prompt="a red car",
    negative_prompt="blurry",
    width=512,
    height=768,
    steps=4,
    guidance=6.0,
    seed=100,
    count=4,
    per_image_prompts=["a red car", "a blue car", "a green car", "a gold car"],
)


def test_reroll_keeps_everything_but_the_seed_and_the_id() -> None:
    rerolled = derivations.reroll(STORED)
    assert rerolled.seed is None and rerolled.request_id != STORED.request_id
    assert rerolled.model_dump(exclude={"seed", "request_id"}) == STORED.model_dump(
        exclude={"seed", "request_id"}
    )


@pytest.mark.parametrize("index", [0, 1, 3])
def test_a_variation_or_an_upscale_of_a_wildcard_image_uses_that_images_own_prompt(
    index: int,
) -> None:
    seeds = [100, 101, 102, 103]
    varied = derivations.variation(STORED, seeds, index, 0.6)
    assert (varied.prompt, varied.count, varied.seed) == (
        STORED.per_image_prompts[index],  # type: ignore[index]
        1,
        seeds[index],
    )
    assert varied.per_image_prompts is None and varied.subseed_strength == 0.6
    assert varied.subseed is not None
    upscaled = derivations.upscale(STORED, seeds, index, b"png")
    assert (upscaled.mode, upscaled.init_image, upscaled.prompt) == (
        "upscale",
        b"png",
        STORED.per_image_prompts[index],  # type: ignore[index]
    )
    assert upscaled.subseed is None and int(upscaled.steps * upscaled.strength) >= 1


def test_an_image_the_job_does_not_have_is_named() -> None:
    with pytest.raises(InvalidRequest) as caught:
        derivations.variation(STORED, [1, 2], 2, 0.2)
    assert caught.value.field == "index" and "image 3" in caught.value.message


def test_remix_replaces_the_positive_prompt_and_keeps_the_negative_and_settings() -> None:
    edited = build("a [cat:dog:2] on a sofa", count=4, steps=4)
    remixed = derivations.remix(STORED, edited)
    assert remixed.negative_prompt == "blurry" and remixed.seed is None
    assert (remixed.width, remixed.height, remixed.steps, remixed.count) == (512, 768, 4, 4)
    assert remixed.per_image_prompts is None
    assert remixed.prompt_edits == [PromptEdit(from_step=2, prompt="a dog on a sofa")]


def test_a_drafts_prompt_edits_move_to_the_full_models_steps() -> None:
    from generation.requests import PromptEdit
    from studio.derivations import rescaled_edits

    edits = [PromptEdit(from_step=s, prompt=p) for s, p in ((1, "b"), (2, "a"), (3, "b"))]
    moved = rescaled_edits(edits, 4, 2)
    assert [(e.from_step, e.prompt) for e in moved] == [(0, "b"), (1, "b")]
    assert all(e.from_step < 2 for e in moved)  # every edit inside the full model's steps
    assert [e.from_step for e in rescaled_edits(edits, 4, 20)] == [5, 10, 15]
