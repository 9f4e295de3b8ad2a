"""Structured warnings: what prompting changed or noticed, for the bot to show the user."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class WarningCode(StrEnum):
    TEXT_NORMALISED = "text_normalised"
    UNBALANCED_BRACKET = "unbalanced_bracket"
    WEIGHT_CLAMPED = "weight_clamped"
    BACKSLASH_REPLACED = "backslash_replaced"
    MIXED_SYNTAX = "mixed_syntax"
    INVALID_COMPEL = "invalid_compel"
    NEGATIVE_SCHEDULE_IGNORED = "negative_schedule_ignored"
    EMPTY_SUBJECT = "empty_subject"
    DUPLICATED_TERMS = "duplicated_terms"
    UNKNOWN_PRESET = "unknown_preset"
    TOKEN_COUNT = "token_count"
    CHUNK_OVER_LIMIT = "chunk_over_limit"
    TRUNCATED_WORDS = "truncated_words"
    INVALID_PROMPT = "invalid_prompt"
    NEGATIVE_IGNORED = "negative_ignored"
    CHUNKS_IGNORED = "chunks_ignored"
    LORA_REPEATED = "lora_repeated"
    LORA_IN_NEGATIVE = "lora_in_negative"


class PromptWarning(BaseModel):
    """One thing the user should know about their prompt; ``detail`` carries the numbers."""

    model_config = ConfigDict(frozen=True)

    code: WarningCode
    message: str
    detail: dict[str, Any] | None = None


def dedupe_warnings(warnings: list[PromptWarning]) -> list[PromptWarning]:
    """Keep the first of equal warnings (the same problem seen in several schedule steps)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for warning in warnings:
        key = (warning.code.value, warning.message)
        if key not in seen:
            seen.add(key)
            kept.append(warning)
    return kept
