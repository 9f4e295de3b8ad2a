"""Token counts without transformers: the caller passes a tokenizer, or an estimate is used.

A tokenizer is either an object with ``tokenize(text) -> tokens`` (a transformers
``CLIPTokenizer`` qualifies) or a callable ``text -> token ids`` without start/end tokens. CLIP
tokenizes each whitespace-separated word on its own, so counting word by word gives exact
totals and tells which words fall past the 75-token window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

CHUNK_TOKENS = 75
"""CLIP's 77-token window less the start and end tokens."""


@runtime_checkable
class Tokenizer(Protocol):
    def tokenize(self, text: str) -> Sequence[Any]: ...


TokenizerLike = Tokenizer | Callable[[str], Sequence[Any]]

# CLIP's pre-tokenizer: contractions, letter runs, single digits, runs of anything else.
_PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\w\s]|_)+", re.IGNORECASE)


def estimate_tokens(text: str) -> int:
    """A close guess at CLIP's count: common words are one token, long or non-Latin ones more."""
    count = 0
    for piece in _PIECES.findall(text.lower()):
        if piece.isascii() and piece.isalpha():
            count += 1 if len(piece) <= 8 else math.ceil(len(piece) / 5)
        elif piece.isascii():
            count += max(1, math.ceil(len(piece) / 2)) if not piece[0].isdigit() else 1
        else:
            count += len(piece)
    return count


def counter(tokenizer: TokenizerLike | None) -> Callable[[str], int]:
    if tokenizer is None:
        return estimate_tokens
    if isinstance(tokenizer, Tokenizer):
        tokenize = tokenizer.tokenize
        return lambda text: len(tokenize(text))
    if callable(tokenizer):
        call = tokenizer
        return lambda text: len(call(text))
    raise TypeError("tokenizer must have tokenize(text) or be callable(text) -> ids")


class TokenReport(BaseModel):
    chunks: list[int] = Field(description="Tokens per chunk (BREAK/AND parts), start/end excluded.")
    total: int
    limit: int = CHUNK_TOKENS
    dropped_words: list[str] = Field(
        default_factory=list,
        description="Words past the first window, which a truncating model would never see.",
    )
    estimated: bool = Field(description="True when no real tokenizer was given.")


def token_report(
    chunk_texts: Sequence[str], full_text: str, tokenizer: TokenizerLike | None = None
) -> TokenReport:
    count = counter(tokenizer)
    cache: dict[str, int] = {}

    def words_tokens(text: str) -> list[tuple[str, int]]:
        out = []
        for word in text.split():
            if word not in cache:
                cache[word] = count(word)
            out.append((word, cache[word]))
        return out

    chunks = [sum(n for _, n in words_tokens(text)) for text in chunk_texts]
    dropped: list[str] = []
    running = 0
    for word, tokens in words_tokens(full_text):
        running += tokens
        if running > CHUNK_TOKENS:
            dropped.append(word)
    return TokenReport(
        chunks=chunks, total=sum(chunks), dropped_words=dropped, estimated=tokenizer is None
    )
