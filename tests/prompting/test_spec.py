"""PromptSpec → BuiltPrompt: a consistent order, nothing dropped, clear errors."""

from __future__ import annotations

import re

import pytest

from prompting import PromptError, PromptingConfig, PromptSpec, build


def test_fields_come_in_one_order_around_the_style() -> None:
    spec = PromptSpec(
        subject="an old sailor",
        style="portrait-photo",
        medium="tintype",
        lighting="rim light",
        composition="close-up, low angle",
        details="weathered skin, wool cap",
        quality="highly detailed, 8k",
    )
    built = build(spec)
    text = built.positive_text
    order = ["an old sailor", "tintype", "rim light", "close-up, low angle", "weathered skin"]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert text.startswith("professional portrait photograph of an old sailor")
    assert text.endswith("natural skin texture, highly detailed, 8k")


def test_nothing_the_user_typed_is_dropped() -> None:
    spec = PromptSpec(
        subject="a (red:1.3) fox [jumping]",
        medium="gouache",
        lighting="moonlight",
        composition="wide shot",
        details="snow {flakes|drifts}",
        quality="masterpiece",
    )
    built = build(spec, seed=1)
    typed = " ".join(
        [spec.subject, spec.medium, spec.lighting, spec.composition, spec.details, spec.quality]
    )
    compel_words = re.findall(r"[a-z]+", built.positive)
    for word in re.findall(r"[a-z]+", typed):
        if word not in {"flakes", "drifts"}:
            assert word in compel_words, word
    assert "flakes" in compel_words or "drifts" in compel_words


def test_a_plain_string_is_a_subject() -> None:
    built = build("a lighthouse at dusk")
    assert built.positive == "a lighthouse at dusk" and built.subject == "a lighthouse at dusk"


def test_edits_are_resolved_for_the_steps_and_for_others_on_demand() -> None:
    built = build("a [puppy:dog:0.5]", steps=20)
    assert built.positive == "a puppy"
    assert [(e.from_step, e.prompt) for e in built.edits] == [(10, "a dog")]
    assert [e.from_step for e in built.edits_for(8)] == [4]
    assert built.positive_for(1) == "a dog"  # int(0.5 * 1) == 0: dog from the start


def test_an_empty_prompt_is_one_error_on_subject() -> None:
    with pytest.raises(PromptError) as error:
        build(PromptSpec(subject="   "))
    assert error.value.field == "subject"
    with pytest.raises(PromptError, match="subject"):
        build("()")


@pytest.mark.parametrize(
    ("option", "value"), [("count", 0), ("count", 17), ("steps", 0), ("steps", 151)]
)
def test_batch_and_steps_are_checked(option: str, value: int) -> None:
    with pytest.raises(PromptError) as error:
        build("a cat", **{option: value})  # type: ignore[arg-type]
    assert error.value.field == option
    assert ".." in error.value.message


def test_the_config_caps_each_field() -> None:
    config = PromptingConfig(max_prompt_chars=50)
    build("x" * 50, config=config)
    with pytest.raises(PromptError) as error:
        build(PromptSpec(subject="a cat", details="y" * 51), config=config)
    assert error.value.field == "details"
    assert "50" in error.value.message
