"""A1111 syntax becomes compel syntax that compel reads with the same words and weights."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from prompting import WarningCode, to_compel, translate
from tests.prompting.conftest import weighted_words

Parse = Callable[[str], list[tuple[float, list[tuple[str, float]]]]]


def words(parse: Parse, text: str) -> list[tuple[str, float]]:
    return [pair for _, fragments in parse(text) for pair in weighted_words(fragments)]


def test_a1111_weight_is_lost_by_compel_unless_translated(compel_parse: Parse) -> None:
    # The quirk: compel reads A1111's "(red:1.2)" as plain text at weight 1.
    assert ("red", 1.0) in words(compel_parse, "a (red:1.2) cat")
    assert words(compel_parse, to_compel("a (red:1.2) cat")) == [
        ("a", 1.0),
        ("red", pytest.approx(1.2)),
        ("cat", 1.0),
    ]


@pytest.mark.parametrize(
    ("a1111", "expected"),
    [
        ("(word)", [("word", 1.1)]),
        ("((word))", [("word", 1.21)]),
        ("[word]", [("word", 1 / 1.1)]),
        ("[[word]]", [("word", 1 / 1.21)]),
        ("((a:1.5) b)", [("a", 1.65), ("b", 1.1)]),
        ("(a (b [c]))", [("a", 1.1), ("b", 1.21), ("c", 1.1)]),
        (
            "(sunset, golden hour:1.3) beach",
            [("sunset", 1.3), ("golden", 1.3), ("hour", 1.3), ("beach", 1.0)],
        ),
        ("(a - b = c:0.7)", [("a", 0.7), ("b", 0.7), ("c", 0.7)]),
        ("(((cat:-0.00)))", [("cat", 0.0)]),
    ],
)
def test_weights_translate(
    compel_parse: Parse, a1111: str, expected: list[tuple[str, float]]
) -> None:
    got = words(compel_parse, to_compel(a1111))
    assert [w for w, _ in got] == [w for w, _ in expected]
    assert [weight for _, weight in got] == pytest.approx(
        [weight for _, weight in expected], abs=1e-4
    )


def test_escaped_brackets_are_literal(compel_parse: Parse) -> None:
    parsed = compel_parse(to_compel(r"logo \(small\) \[draft\] (big)"))
    fragments = parsed[0][1]
    assert fragments[0] == ("logo (small) [draft]", 1.0)
    assert fragments[1][0] == "big" and fragments[1][1] == pytest.approx(1.1)


def test_break_starts_a_new_chunk_and_weights_carry_across(compel_parse: Parse) -> None:
    text = to_compel("a castle (on a hill BREAK at night:1.2)")
    assert text.endswith(".and()")
    parsed = compel_parse(text)
    assert [weight for weight, _ in parsed] == [1.0, 1.0]
    assert weighted_words(parsed[0][1]) == [
        ("a", 1.0),
        ("castle", 1.0),
        ("on", pytest.approx(1.2)),
        ("a", pytest.approx(1.2)),
        ("hill", pytest.approx(1.2)),
    ]
    assert weighted_words(parsed[1][1]) == [
        ("at", pytest.approx(1.2)),
        ("night", pytest.approx(1.2)),
    ]


def test_and_becomes_a_weighted_conjunction(compel_parse: Parse) -> None:
    parsed = compel_parse(to_compel("a red cat :1.2 AND a blue dog:0.5"))
    assert [weight for weight, _ in parsed] == pytest.approx([1.2, 0.5])
    assert [[w for w, _ in weighted_words(f)] for _, f in parsed] == [
        ["a", "red", "cat"],
        ["a", "blue", "dog"],
    ]


def test_and_weights_are_clamped_too(compel_parse: Parse) -> None:
    translation = translate("a cat :5 AND a dog :-1")
    assert [weight for weight, _ in compel_parse(translation.compel())] == [2.0, 0.0]
    (warning,) = translation.clamp_warnings(20)
    assert "AND part 1" in warning.message and "AND part 2" in warning.message


def test_a_ratio_without_and_is_not_a_weight() -> None:
    assert to_compel("poster 16:9") == "poster 16:9"


@pytest.mark.parametrize(
    "compel_text",
    [
        "a cat+ wearing (a red hat)1.3",
        "a forest--, misty",
        '("a cat playing in the forest", "an oil painting").and()',
        '("blue sky", "red sky").blend(0.7, 0.3)',
        "a cat.swap(dog) on a sofa",
    ],
)
def test_compel_syntax_passes_through(compel_text: str) -> None:
    translation = translate(compel_text)
    assert translation.dialect == "compel"
    assert translation.compel() == compel_text
    assert translation.warnings == []


def test_mixed_dialects_are_read_as_a1111_with_a_warning(compel_parse: Parse) -> None:
    translation = translate("a cat++ (red hat:1.3)")
    assert translation.dialect == "a1111"
    assert [w.code for w in translation.warnings] == [WarningCode.MIXED_SYNTAX]
    got = words(compel_parse, translation.compel())
    assert got[0] == ("a", 1.0) and got[1] == ("cat", 1.0)
    assert got[2][1] == pytest.approx(1.3)


def test_syntax_can_be_forced() -> None:
    assert translate("(a)1.3", syntax="compel").compel() == "(a)1.3"
    assert translate("a cat+", syntax="a1111").dialect == "a1111"


@pytest.mark.parametrize("text", ["(a cat", "a cat)", "[a (cat]", "((x)", "a ]["])
def test_unbalanced_brackets_become_literal_text_with_a_warning(
    compel_parse: Parse, text: str
) -> None:
    translation = translate(text)
    assert WarningCode.UNBALANCED_BRACKET in [w.code for w in translation.warnings]
    got = words(compel_parse, translation.compel())
    assert [w for w, _ in got][-1] in {"cat", "x", "a"}


def test_out_of_range_weights_are_clamped_with_a_warning(compel_parse: Parse) -> None:
    translation = translate("(huge:1e9) (negative:-3) (fine:1.5)")
    assert words(compel_parse, translation.compel()) == [
        ("huge", 2.0),
        ("negative", 0.0),
        ("fine", 1.5),
    ]
    (warning,) = translation.clamp_warnings(20)
    assert warning.code == WarningCode.WEIGHT_CLAMPED
    assert "huge" in warning.message and "negative" in warning.message
    assert "fine" not in warning.message


@pytest.mark.parametrize("depth", [100, 1000])
def test_deep_nesting_does_not_crash(compel_parse: Parse, depth: int) -> None:
    deep = translate("(" * depth + "x" + ")" * depth)
    assert words(compel_parse, deep.compel()) == [("x", 2.0)]
    shallow = translate("[" * depth + "x" + "]" * depth)
    assert words(compel_parse, shallow.compel()) == [("x", pytest.approx(1.1**-depth, abs=1e-4))]
    unbalanced = translate("(" * depth + "x")
    assert words(compel_parse, unbalanced.compel()) == [("x", 1.0)]


def test_prompt_editing_switches_at_a_step_or_a_fraction() -> None:
    assert translate("a [cat:dog:0.5] on a sofa").schedule(10) == [
        (0, "a cat on a sofa"),
        (5, "a dog on a sofa"),
    ]
    assert translate("a [cat:dog:3] on a sofa").schedule(10)[1] == (3, "a dog on a sofa")
    assert translate("a cat [wearing a hat:4]").schedule(10) == [
        (0, "a cat"),
        (4, "a cat wearing a hat"),
    ]
    assert translate("a cat [wearing a hat::4]").schedule(10) == [
        (0, "a cat wearing a hat"),
        (4, "a cat"),
    ]
    # A switch at or past the last step never happens.
    assert translate("[cat:dog:30]").schedule(10) == [(0, "cat")]


def test_editing_keeps_weights_inside_and_around(compel_parse: Parse) -> None:
    schedule = translate("([red:blue:2] car:1.3)").schedule(4)
    assert [step for step, _ in schedule] == [0, 2]
    assert words(compel_parse, schedule[1][1]) == [
        ("blue", pytest.approx(1.3)),
        ("car", pytest.approx(1.3)),
    ]


def test_alternation_changes_every_step() -> None:
    schedule = translate("a [cat|dog] in the snow").schedule(4)
    assert schedule == [
        (0, "a cat in the snow"),
        (1, "a dog in the snow"),
        (2, "a cat in the snow"),
        (3, "a dog in the snow"),
    ]


@pytest.mark.parametrize("text", ['("a", "b").blend(1)', '("a", "b").and(1, 2, 3)'])
def test_compel_that_compel_would_refuse_is_read_as_text(compel_parse: Parse, text: str) -> None:
    translation = translate(text)
    assert [w.code for w in translation.warnings] == [WarningCode.INVALID_COMPEL]
    assert [w for w, _ in words(compel_parse, translation.compel())][:2] == ["a", "b"]
