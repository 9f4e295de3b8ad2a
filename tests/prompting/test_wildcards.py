"""Wildcards: one variant per image, drawn from the seed, and mapped onto the engine's request."""

from __future__ import annotations

import pytest

from generation.requests import GenerationRequest, PromptEdit
from prompting import BuiltPrompt, PromptError, PromptSpec, WarningCode, build


def to_request(built: BuiltPrompt, count: int, seed: int) -> GenerationRequest:
    """What the bot does with a BuiltPrompt (kept here so the test exercises the contract)."""
    return GenerationRequest(
        prompt=built.positive,
        negative_prompt=built.negative,
        count=count,
        seed=seed,
        steps=built.steps,
        per_image_prompts=built.per_image_positives,
        prompt_edits=[PromptEdit(from_step=e.from_step, prompt=e.prompt) for e in built.edits],
    )


def test_same_seed_same_variants_and_every_variant_is_one_of_the_options() -> None:
    first = build("a {red|blue|green} car", seed=42, count=4)
    again = build("a {red|blue|green} car", seed=42, count=4)
    assert first.per_image_positives == again.per_image_positives
    assert first.per_image_positives is not None and len(first.per_image_positives) == 4
    assert set(first.per_image_positives) <= {"a red car", "a blue car", "a green car"}
    assert first.positive == first.per_image_positives[0]
    request = to_request(first, 4, 42)
    assert request.per_image_prompts == first.per_image_positives


def test_seeds_draw_different_batches() -> None:
    batches = {
        tuple(build("{red|blue|green|white} car", seed=seed, count=4).per_image_positives or [])
        for seed in range(6)
    }
    assert len(batches) > 1
    seen = {prompt for batch in batches for prompt in batch}
    assert seen == {"red car", "blue car", "green car", "white car"}


def test_nested_and_weighted_wildcards_translate_per_image() -> None:
    built = build("{(huge:1.3) {red|blue}|tiny} boat", seed=1, count=4)
    prompts = built.per_image_positives or [built.positive] * 4
    assert set(prompts) <= {"(huge)1.3 red boat", "(huge)1.3 blue boat", "tiny boat"}


def test_unbalanced_and_escaped_braces_stay_literal() -> None:
    built = build("a {red|blue car", seed=1)
    assert built.positive == "a {red|blue car"
    assert WarningCode.UNBALANCED_BRACKET in [w.code for w in built.warnings]
    assert build(r"json \{a\|b\}", seed=1).positive == "json {a|b}"


def test_no_wildcards_means_no_per_image_prompts() -> None:
    assert build("a car", count=4, seed=3).per_image_positives is None


def test_single_image_allows_wildcards_with_editing() -> None:
    built = build("a {red|blue} [car:boat:0.5]", seed=5, count=1, steps=10)
    assert [e.from_step for e in built.edits] == [5]
    request = to_request(built, 1, 5)
    assert request.prompt_edits[0].prompt.endswith("boat")


def test_differing_wildcards_with_editing_is_one_clear_error() -> None:
    with pytest.raises(PromptError) as error:
        for seed in range(20):  # some seed draws two different colours
            build(PromptSpec(subject="a {red|blue} [car:boat:0.5]"), seed=seed, count=4)
    assert error.value.field == "subject"
    assert error.value.code == "wildcards_with_schedule"
