"""How FLUX.1 and SD 3.5 read prompts, and A1111's <lora:name:weight> tags, as pure text."""

from __future__ import annotations

import pytest

from prompting import PromptError, PromptSpec, WarningCode, build, extract_loras


def codes(built: object) -> list[WarningCode]:
    return [warning.code for warning in built.warnings]  # type: ignore[attr-defined]


def test_lora_tags_leave_the_text_and_become_a_list_of_names_and_weights() -> None:
    built = build("a fox <lora:ink-style:0.6> in the snow, <lora:detail>", model_family="sd1")
    assert [(tag.name, tag.weight) for tag in built.loras] == [("ink-style", 0.6), ("detail", None)]
    assert "lora" not in built.positive and built.positive == "a fox in the snow"
    assert built.positive_text == "a fox in the snow"


def test_a1111_two_weight_form_uses_the_first_and_a_repeat_keeps_the_last() -> None:
    text, tags, warnings = extract_loras("subject", "x <lora:a:0.5:0.9> y <lora:a:0.7>")
    assert text == "x y" and [(t.name, t.weight) for t in tags] == [("a", 0.7)]
    assert [w.code for w in warnings] == [WarningCode.LORA_REPEATED]


@pytest.mark.parametrize(
    ("tag", "says"), [("<lora:a:9>", "use -2..2"), ("<lora:a:strong>", "write a number")]
)
def test_a_bad_lora_weight_is_refused_naming_the_prompt(tag: str, says: str) -> None:
    with pytest.raises(PromptError) as caught:
        build(f"a cat {tag}")
    assert caught.value.field == "subject" and says in caught.value.message


def test_lora_tags_in_the_negative_are_removed_with_a_warning() -> None:
    built = build(PromptSpec(subject="a cat", negative="blurry <lora:a:1>"), model_family="sd1")
    assert "lora" not in built.negative and built.loras == []
    assert WarningCode.LORA_IN_NEGATIVE in codes(built)


def test_flux_takes_no_negative_and_says_so_once() -> None:
    built = build(PromptSpec(subject="a cat", negative="blurry, dogs"), model_family="flux")
    assert built.negative == "" and built.negative_text == ""
    assert codes(built).count(WarningCode.NEGATIVE_IGNORED) == 1
    message = next(w.message for w in built.warnings if w.code == WarningCode.NEGATIVE_IGNORED)
    assert "FLUX.1" in message and "blurry" in message
    # without a typed negative (only defaults) there is nothing to tell
    assert WarningCode.NEGATIVE_IGNORED not in codes(build("a cat", model_family="flux"))


@pytest.mark.parametrize("family", ["flux", "sd3"])
def test_break_and_and_are_joined_with_a_warning_where_they_do_nothing(family: str) -> None:
    built = build("a red cat BREAK a (blue:1.2) dog", model_family=family)
    assert ".and(" not in built.positive
    assert built.positive == "a red cat a (blue)1.2 dog"
    assert codes(built).count(WarningCode.CHUNKS_IGNORED) == 1


def test_break_still_makes_chunks_for_clip_families() -> None:
    built = build("a red cat BREAK a dog", model_family="sdxl")
    assert built.positive.endswith(".and()") and WarningCode.CHUNKS_IGNORED not in codes(built)


def test_sd3_keeps_negatives_with_its_own_default() -> None:
    built = build(PromptSpec(subject="a cat", negative="dogs"), model_family="sd3")
    assert built.negative_text.endswith("dogs") and "lowres" in built.negative_text
