"""Property tests: whatever people type, the translation is compel that means the same thing."""

from __future__ import annotations

import re
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prompting import translate
from prompting.program import MAX_WEIGHT, MIN_WEIGHT
from tests.prompting.conftest import WORD, assert_same_weighted_words, weighted_words

Parse = Callable[[str], list[tuple[float, list[tuple[str, float]]]]]
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Pieces people really type, syntax and noise mixed.
_SOUP = st.sampled_from(
    [
        "(",
        ")",
        "[",
        "]",
        ":",
        "|",
        "\\",
        "\\(",
        "\\)",
        '"',
        "=",
        "+",
        "-",
        "--",
        ",",
        ".",
        " ",
        "cat",
        "red hat",
        "x-y",
        "1.2",
        ":1.3)",
        ":0.5]",
        ":7]",
        "AND",
        "BREAK",
        " AND ",
        " BREAK ",
        "{",
        "}",
        "😀",
        "مرحبا",
        "é",
        ".and(",
        ".blend(",
        ")1.3",
        "word+",
        "_",
    ]
)
_ANY_TEXT = st.one_of(
    st.lists(_SOUP, max_size=25).map("".join),
    st.text(max_size=60),
)


@SETTINGS
@given(_ANY_TEXT)
def test_any_text_becomes_compel_that_compel_parses(compel_parse: Parse, text: str) -> None:
    text = " ".join(text.split())
    translation = translate(text)
    for _, compel_text in translation.schedule(6):
        compel_parse(compel_text)


@SETTINGS
@given(st.lists(_SOUP, max_size=25).map("".join))
def test_a1111_reading_keeps_every_weighted_word_exactly(compel_parse: Parse, text: str) -> None:
    """For every step, compel's parse has exactly the words and weights of our reading."""
    translation = translate(text, syntax="a1111")
    steps = 6
    for step in range(steps):
        flat = translation.flat(step, steps)
        parsed = compel_parse(translation.compel(step, steps))
        expected = [
            (chunk.weight, [(s.text, s.weight) for s in chunk.segments]) for chunk in flat.chunks
        ]
        if not expected:
            assert weighted_words(parsed[0][1]) == []
            continue
        assert len(parsed) == len(expected)
        for (got_weight, got), (want_weight, want) in zip(parsed, expected, strict=True):
            assert got_weight == want_weight or abs(got_weight - want_weight) < 1e-4
            assert_same_weighted_words(weighted_words(got), weighted_words(want))


# Text without ':' and '|' has no edits, alternations or AND weights: every word must survive.
_PLAIN_SOUP = st.sampled_from(
    [
        "(",
        ")",
        "[",
        "]",
        "\\",
        "\\(",
        '"',
        "=",
        "+",
        "-",
        ",",
        ".",
        " ",
        "cat",
        "dog",
        "x-y",
        "1.5",
        "😀",
        "مرحبا",
        "_",
        "{",
        "}",
        "word+",
        ")1.3",
        "é",
    ]
)


@SETTINGS
@given(st.lists(_PLAIN_SOUP, max_size=30).map("".join))
def test_every_word_of_the_prompt_survives(compel_parse: Parse, text: str) -> None:
    text = " ".join(text.split())
    parsed = compel_parse(translate(text, syntax="a1111").compel())
    got = [word for _, fragments in parsed for word, _ in weighted_words(fragments)]
    assert got == WORD.findall(text)


def a1111_reference(text: str) -> list[tuple[str, float]]:
    """A1111's own weighting algorithm (``parse_prompt_attention``), for balanced text."""
    token = re.compile(
        r"\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:"
    )
    res: list[list[object]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, factor: float) -> None:
        for item in res[start:]:
            item[1] = float(item[1]) * factor  # type: ignore[arg-type]

    for match in token.finditer(text):
        piece, weight = match.group(0), match.group(1)
        if piece.startswith("\\"):
            res.append([piece[-1] if len(piece) > 1 else "", 1.0])
        elif piece == "(":
            round_open.append(len(res))
        elif piece == "[":
            square_open.append(len(res))
        elif weight is not None and round_open:
            multiply(round_open.pop(), float(weight))
        elif piece == ")" and round_open:
            multiply(round_open.pop(), 1.1)
        elif piece == "]" and square_open:
            multiply(square_open.pop(), 1 / 1.1)
        else:
            res.append([piece, 1.0])
    return [(str(t), min(MAX_WEIGHT, max(MIN_WEIGHT, float(w)))) for t, w in res]  # type: ignore[arg-type]


_LEAF = st.sampled_from(
    [
        "cat",
        "red hat",
        " ",
        ", ",
        ".",
        "-",
        "+",
        "=",
        "x-y",
        "1.5",
        "😀",
        "مرحبا",
        "\\(",
        "\\)",
        "e",
    ]
)
_WEIGHT = st.one_of(
    st.floats(min_value=-3, max_value=4, allow_nan=False).map(lambda w: f"{w:.2f}"),
    st.sampled_from(["1", "0", "2.5", "1000000000", ".5"]),
)
_BALANCED = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4).map("".join),
        inner.map(lambda s: f"({s})"),
        inner.map(lambda s: f"[{s}]"),
        st.tuples(inner, _WEIGHT).map(lambda t: f"({t[0]}:{t[1]})"),
    ),
    max_leaves=16,
)


@SETTINGS
@given(_BALANCED)
def test_weights_equal_a1111s_own_algorithm(compel_parse: Parse, text: str) -> None:
    parsed = compel_parse(translate(text, syntax="a1111").compel())
    got = [pair for _, fragments in parsed for pair in weighted_words(fragments)]
    assert_same_weighted_words(got, weighted_words(a1111_reference(text)))
