"""Everything worth telling a user about a prompt, as structured warnings.

``lint`` never raises for a user's text: the errors ``build`` would raise (unknown preset, empty
subject, too long) come back as warnings too, so the bot can show them all in one place.
"""

from __future__ import annotations

import re
from typing import Any

from prompting.errors import PromptError
from prompting.negatives import duplicated_terms, split_terms
from prompting.notices import PromptWarning, WarningCode, dedupe_warnings
from prompting.spec import BuiltPrompt, PromptSpec, build
from prompting.tokens import CHUNK_TOKENS, TokenizerLike, TokenReport, token_report

_ERROR_CODES = {
    "unknown_preset": WarningCode.UNKNOWN_PRESET,
    "empty_subject": WarningCode.EMPTY_SUBJECT,
}
# Compel operators and weights removed for counting (compel prompts pass through unparsed).
_COMPEL_SYNTAX = re.compile(r"\.(?:and|add|blend|swap|attend)\([^)]*\)|\)[+-]+|\)\d*\.?\d+|[()\"]")
_COMPEL_WORD_WEIGHT = re.compile(r"(?<=\w)[+-]+(?=[\s,]|$)")


def lint(
    spec: PromptSpec | str, tokenizer: TokenizerLike | None = None, **build_options: Any
) -> list[PromptWarning]:
    """Warnings for ``spec`` (``build_options`` as for ``build``); never raises for user text."""
    try:
        built = build(spec, **build_options)
    except PromptError as exc:
        code = _ERROR_CODES.get(exc.code, WarningCode.INVALID_PROMPT)
        return [PromptWarning(code=code, message=str(exc), detail={"field": exc.field})]
    return lint_built(built, tokenizer)


def tokens_of(built: BuiltPrompt, tokenizer: TokenizerLike | None = None) -> TokenReport:
    """Token counts of image 0's positive prompt at step 0."""
    translation = built.translation
    if translation.dialect == "compel":
        plain = _COMPEL_WORD_WEIGHT.sub("", _COMPEL_SYNTAX.sub(" ", translation.source))
        return token_report([plain], plain, tokenizer)
    chunks = [chunk.plain for chunk in translation.flat(0, built.steps).chunks]
    return token_report(chunks, " ".join(chunks), tokenizer)


def lint_built(built: BuiltPrompt, tokenizer: TokenizerLike | None = None) -> list[PromptWarning]:
    warnings = list(built.warnings)
    if not built.subject:
        warnings.append(
            PromptWarning(
                code=WarningCode.EMPTY_SUBJECT,
                message="the subject is empty: say what to paint, not only how",
            )
        )
    repeated = duplicated_terms(split_terms(built.positive_text))
    if repeated:
        warnings.append(
            PromptWarning(
                code=WarningCode.DUPLICATED_TERMS,
                message=f"terms repeated in the prompt: {', '.join(repeated[:5])}",
                detail={"terms": repeated},
            )
        )
    report = tokens_of(built, tokenizer)
    warnings.append(
        PromptWarning(
            code=WarningCode.TOKEN_COUNT,
            message=f"{report.total} tokens in {len(report.chunks)} chunk(s)"
            + (" (estimated)" if report.estimated else ""),
            detail=report.model_dump(),
        )
    )
    for index, tokens in enumerate(report.chunks):
        if tokens > CHUNK_TOKENS:
            warnings.append(
                PromptWarning(
                    code=WarningCode.CHUNK_OVER_LIMIT,
                    message=f"chunk {index + 1} has {tokens} tokens; past {CHUNK_TOKENS} it is "
                    "encoded in further windows, which weakens how its words attend to each other",
                    detail={"chunk": index, "tokens": tokens},
                )
            )
    if report.dropped_words:
        shown = " ".join(report.dropped_words[:12])
        warnings.append(
            PromptWarning(
                code=WarningCode.TRUNCATED_WORDS,
                message=f"a model that truncates at {CHUNK_TOKENS} tokens would drop: {shown}"
                + (" …" if len(report.dropped_words) > 12 else ""),
                detail={"words": report.dropped_words},
            )
        )
    return dedupe_warnings(warnings)
