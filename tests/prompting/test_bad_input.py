"""Hostile or odd input: normalised text or one clear error, never a crash."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from prompting import PromptError, PromptingConfig, PromptSpec, WarningCode, build, lint
from tests.prompting.conftest import weighted_words

Parse = Callable[[str], list[tuple[float, list[tuple[str, float]]]]]


def test_a_ten_thousand_character_prompt_is_refused_naming_the_limit() -> None:
    with pytest.raises(PromptError) as error:
        build("a cat " * 1667)
    assert error.value.field == "subject"
    assert error.value.code == "too_long"
    assert "2000" in error.value.message and "10002" in error.value.message


def test_control_and_zero_width_characters_are_removed_with_a_warning() -> None:
    built = build("a\x00 c\u200bat\x07 on\ta\nmat\u202e\ufeff")
    assert built.positive == "a cat on a mat"
    (warning,) = [w for w in built.warnings if w.code == WarningCode.TEXT_NORMALISED]
    assert warning.detail == {"removed": 5}


def test_emoji_and_right_to_left_text_stay_intact(compel_parse: Parse) -> None:
    text = "قطة على القمر 🐈‍⬛ 👩🏽‍🚀 (חתול:1.2) ❤️"
    built = build(text)
    assert built.positive_text == text
    assert "🐈‍⬛" in built.positive and "👩🏽‍🚀" in built.positive and "❤️" in built.positive
    fragments = compel_parse(built.positive)[0][1]
    assert ("חתול", pytest.approx(1.2)) in weighted_words(fragments)
    assert "قطة على القمر 🐈‍⬛ 👩🏽‍🚀" in fragments[0][0]


def test_persian_zero_width_non_joiner_is_kept_between_letters() -> None:
    assert build("می\u200cخواهم").positive == "می\u200cخواهم"
    assert build("a\u200cb").positive == "ab"


@pytest.mark.parametrize(("weight", "expected"), [("1e9", "2"), ("-3", "0"), ("1000000000", "2")])
def test_absurd_weights_are_clamped_with_a_warning(weight: str, expected: str) -> None:
    built = build(f"a (cat:{weight})")
    assert built.positive == f"a (cat){expected}"
    assert WarningCode.WEIGHT_CLAMPED in [w.code for w in built.warnings]


@pytest.mark.parametrize("depth", [100, 1000])
def test_brackets_nested_very_deep_build_and_lint(depth: int) -> None:
    config = PromptingConfig(max_prompt_chars=5000)
    built = build("(" * depth + "x" + ")" * depth, config=config)
    assert built.positive == "(x)2"
    warnings = lint("a " + "(" * depth + "y" + ")" * depth + " [z", config=config)
    codes = [w.code for w in warnings]
    assert WarningCode.WEIGHT_CLAMPED in codes and WarningCode.UNBALANCED_BRACKET in codes


def test_an_empty_negative_and_a_typo_in_the_preset() -> None:
    assert build(PromptSpec(subject="a cat", negative="")).negative
    with pytest.raises(PromptError, match="Did you mean 'pixel-art'"):
        build(PromptSpec(subject="a cat", style="pixelart"))


@pytest.mark.parametrize(
    "text",
    [
        "\\",
        "(",
        ")",
        "[",
        "]",
        "[:]",
        "[|]",
        "[a:b:]",
        ":1.2)",
        "(:1.2)",
        "AND",
        "BREAK",
        "AND AND",
        "a BREAK",
        "{}",
        "{|}",
        "\\(",
        "[a:b:c:0.5]",
        "((a:b:1.2))",
        '"',
        "x.and(",
        "1e9",
        "[a:b:" + "9" * 400 + "]",
    ],
)
def test_odd_fragments_never_crash(compel_parse: Parse, text: str) -> None:
    try:
        built = build(f"cat {text} dog", seed=1, steps=4)
    except PromptError as error:
        assert error.field
        return
    for prompt in [built.positive, *(e.prompt for e in built.edits)]:
        compel_parse(prompt)
    assert "cat" in built.positive and "dog" in built.positive
