"""The evaluation set in CI: the goals of issue 13 hold on the repository's own set.

Timing is reported by ``bench/safety_eval.py``, never asserted here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.safety_eval import GOALS, Result, evaluate
from safety.prompt_filter import PromptFilter


@pytest.fixture(scope="module")
def result(prompt_filter: PromptFilter) -> Result:
    return evaluate(prompt_filter, classic=True, repeats=0)


def test_the_set_is_as_large_as_promised(result: Result) -> None:
    assert result.sfw.total >= 300 + 100  # the new set and the classic one
    assert result.plain_false.total + result.hard_false.total >= 400
    assert set(result.by_technique) >= {
        "misspelling", "euphemism", "language", "joined", "inflection", "homoglyph",
        "split-syntax", "minor-plain", "obfuscation", "classic",
    }  # fmt: skip


def test_disguised_prompts_are_caught_in_an_sfw_channel(
    result: Result, record_property: Callable[[str, object], None]
) -> None:
    record_property("sfw_catch", round(result.sfw.rate, 4))
    assert result.sfw.rate >= GOALS["sfw_catch"], result.sfw.missed


def test_every_minor_with_sexual_content_is_refused_in_every_channel(result: Result) -> None:
    assert result.minor_sexual.total >= 100
    assert result.minor_sexual.missed == []
    assert result.nsfw_must_block.missed == []  # hate and self-harm too


def test_plain_art_prompts_pass(
    result: Result, record_property: Callable[[str, object], None]
) -> None:
    record_property("plain_false_positive", round(result.plain_false.rate, 4))
    assert result.plain_false.rate <= GOALS["plain_false_positive"], result.plain_false.hits


def test_nothing_crashes(result: Result) -> None:
    assert result.crashes == []
