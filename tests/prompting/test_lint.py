"""Lint: structured warnings, with token counts from the real CLIP tokenizer or an estimate."""

from __future__ import annotations

from typing import Any

import pytest

from prompting import PromptSpec, WarningCode, build, estimate_tokens, lint, tokens_of


def codes(warnings: list[Any]) -> list[WarningCode]:
    return [w.code for w in warnings]


def report(warnings: list[Any]) -> dict[str, Any]:
    (count,) = [w for w in warnings if w.code == WarningCode.TOKEN_COUNT]
    return count.detail  # type: ignore[no-any-return]


def test_counts_match_the_real_clip_tokenizer(clip_tokenizer: Any) -> None:
    detail = report(lint("a photo of a cat", clip_tokenizer))
    assert detail == {
        "chunks": [5],
        "total": 5,
        "limit": 75,
        "dropped_words": [],
        "estimated": False,
    }
    # A callable returning ids works as well as an object with tokenize().
    ids = lambda text: clip_tokenizer(text, add_special_tokens=False).input_ids  # noqa: E731
    assert report(lint("a photo of a cat", ids))["total"] == 5


def test_counts_per_break_chunk(clip_tokenizer: Any) -> None:
    built = build("a photo of a cat BREAK (a red hat:1.3), studio light")
    tokens = tokens_of(built, clip_tokenizer)
    expected = [
        len(clip_tokenizer.tokenize("a photo of a cat")),
        len(clip_tokenizer.tokenize("a red hat, studio light")),
    ]
    assert tokens.chunks == expected and tokens.total == sum(expected)


def test_words_a_truncating_model_would_drop_are_named(clip_tokenizer: Any) -> None:
    words = [f"word{i}" for i in range(60)]
    warnings = lint(" ".join(words), clip_tokenizer)
    assert {WarningCode.CHUNK_OVER_LIMIT, WarningCode.TRUNCATED_WORDS} <= set(codes(warnings))
    dropped = report(warnings)["dropped_words"]
    kept = words[: len(words) - len(dropped)]
    assert dropped == words[len(kept) :]
    # Exactly what CLIP's 77-token window (75 + start/end) cuts off.
    assert len(clip_tokenizer.tokenize(" ".join(kept))) <= 75
    assert len(clip_tokenizer.tokenize(" ".join([*kept, dropped[0]]))) > 75


@pytest.mark.parametrize(
    "text",
    [
        "a photo of an astronaut riding a horse on mars, highly detailed, 8k",
        "portrait of an old fisherman, weathered skin, dramatic lighting, oil painting",
        "cozy cabin in a snowy forest at night, warm light in the windows, starry sky",
    ],
)
def test_the_estimate_is_close_to_clip(clip_tokenizer: Any, text: str) -> None:
    real = len(clip_tokenizer.tokenize(text))
    assert abs(estimate_tokens(text) - real) <= max(2, real * 0.2)


def test_without_a_tokenizer_counts_are_marked_estimated() -> None:
    detail = report(lint("a photo of a cat"))
    assert detail["estimated"] is True and detail["total"] == 5


def test_each_problem_has_its_own_code() -> None:
    assert WarningCode.EMPTY_SUBJECT in codes(lint(PromptSpec(subject="", lighting="soft light")))
    assert WarningCode.EMPTY_SUBJECT in codes(lint(PromptSpec(subject="")))
    assert codes(lint(PromptSpec(subject="a cat", style="animu")))[0] == WarningCode.UNKNOWN_PRESET
    assert WarningCode.UNBALANCED_BRACKET in codes(lint("a (cat"))
    assert WarningCode.WEIGHT_CLAMPED in codes(lint("a (cat:5)"))
    duplicated = [
        w for w in lint("red car, Red  Car, blue") if w.code == WarningCode.DUPLICATED_TERMS
    ]
    assert duplicated and duplicated[0].detail == {"terms": ["Red Car"]}
    assert WarningCode.INVALID_PROMPT in codes(lint("x" * 5000))


def test_a_clean_prompt_has_only_its_count() -> None:
    assert codes(lint("a lighthouse on a cliff at dawn")) == [WarningCode.TOKEN_COUNT]


def test_compel_prompts_are_counted_without_their_syntax(clip_tokenizer: Any) -> None:
    detail = report(lint("a cat+ wearing (a red hat)1.3", clip_tokenizer))
    assert detail["total"] == len(clip_tokenizer.tokenize("a cat wearing a red hat"))
