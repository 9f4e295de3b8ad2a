"""Negative prompts: family defaults, the guild's default, the user's terms, no duplicates."""

from __future__ import annotations

import pytest

from prompting import MODEL_FAMILIES, PromptSpec, build, default_negative
from prompting.negatives import compose_negative


def terms(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def test_each_family_has_its_own_default() -> None:
    defaults = {family: default_negative(family) for family in MODEL_FAMILIES}
    assert len(set(defaults.values())) == len(MODEL_FAMILIES)
    assert defaults["flux"] == ""  # FLUX.1 takes no negative prompt
    for family in MODEL_FAMILIES:
        assert build("a cat", model_family=family).negative_text == defaults[family]


def test_the_users_negative_is_appended_to_the_default() -> None:
    built = build(PromptSpec(subject="a cat", negative="dogs, (rain:1.3)"), model_family="sdxl")
    assert built.negative_text == default_negative("sdxl") + ", dogs, (rain:1.3)"
    assert built.negative.endswith("dogs, (rain)1.3")


def test_opting_out_leaves_only_the_users_terms() -> None:
    spec = PromptSpec(subject="a cat", negative="dogs", use_default_negative=False)
    assert build(spec).negative_text == "dogs"


def test_the_guilds_default_replaces_the_familys() -> None:
    built = build(
        PromptSpec(subject="a cat", negative="dogs"), default_negative_prompt="gore, nsfw"
    )
    assert built.negative_text == "gore, nsfw, dogs"


@pytest.mark.parametrize("negative", ["", "   ", "\u200b"])
def test_an_empty_negative_is_fine(negative: str) -> None:
    spec = PromptSpec(subject="a cat", negative=negative, use_default_negative=False)
    built = build(spec)
    assert built.negative_text == "" and built.negative == ""


def test_duplicates_go_whatever_their_case_or_spacing() -> None:
    assert compose_negative(
        ["Blurry, low  quality", "blurry,LOW QUALITY , text", "(a, b:1.2)"]
    ) == ("Blurry, low quality, text, (a, b:1.2)")
    built = build(PromptSpec(subject="a cat", style="anime", negative="PHOTO, watermark"))
    assert [t.casefold() for t in terms(built.negative_text)].count("photo") == 1
    assert terms(built.negative_text).count("watermark") == 1
