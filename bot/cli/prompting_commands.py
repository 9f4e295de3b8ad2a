"""``muralist prompt`` (what the model would get for a prompt) and ``muralist styles``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.config import Settings
from prompting import (
    MODEL_FAMILIES,
    BuiltPrompt,
    PromptError,
    PromptSpec,
    WarningCode,
    build,
    lint_built,
    load_library,
    tokens_of,
)
from studio import ImagineOptions, bounds
from studio.ranges import describe

_COUNT = describe(ImagineOptions, "count")


def register(subparsers: Any) -> None:
    prompt = subparsers.add_parser(
        "prompt",
        help="show the prompts, compel string, token counts and warnings for a prompt",
        description="Show what the model would get for TEXT (A1111 or compel syntax).",
    )
    prompt.add_argument("text", help="the prompt (weights, BREAK/AND, [a:b:when], {a|b} allowed)")
    prompt.add_argument("--style", help="a style preset (see `muralist styles`)")
    prompt.add_argument("--negative", default="", help="your negative prompt")
    prompt.add_argument(
        "--no-default-negative",
        action="store_true",
        help="leave the model family's default negative out",
    )
    prompt.add_argument(
        "--model-family", default="sd1", help=f"{', '.join(MODEL_FAMILIES)} (default sd1)"
    )
    prompt.add_argument("--syntax", default="auto", help="auto, a1111 or compel (default auto)")
    # Numbers are checked by the handler, so a bad one is one line naming the option.
    prompt.add_argument("--steps", default="20", help="steps, for prompt editing (default 20)")
    prompt.add_argument("--seed", default="0", help="seed that draws the wildcards (default 0)")
    prompt.add_argument("--count", default="1", help=f"images in the batch, {_COUNT} (default 1)")
    prompt.add_argument("--json", action="store_true", help="print one JSON object")
    prompt.set_defaults(handler=run_prompt)

    styles = subparsers.add_parser("styles", help="list the style presets")
    styles.add_argument("--json", action="store_true", help="print one JSON array")
    styles.set_defaults(handler=run_styles)


def _whole_number(field: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PromptError(field, f"must be a whole number, got {value!r}") from None


def run_prompt(args: argparse.Namespace, settings: Settings) -> int:
    if args.model_family not in MODEL_FAMILIES:
        raise PromptError("model_family", f"must be one of {', '.join(MODEL_FAMILIES)}")
    if args.syntax not in ("auto", "a1111", "compel"):
        raise PromptError("syntax", "must be one of auto, a1111, compel")
    steps = _whole_number("steps", args.steps)
    seed = _whole_number("seed", args.seed)
    count = _whole_number("count", args.count)
    low, high = bounds(ImagineOptions, "count")  # as /imagine and `muralist imagine` allow
    if not low <= count <= high:
        raise PromptError("count", f"must be {_COUNT}, got {count}")
    spec = PromptSpec(
        subject=args.text,
        style=args.style,
        negative=args.negative,
        use_default_negative=not args.no_default_negative,
        syntax=args.syntax,
    )
    built = build(
        spec,
        model_family=args.model_family,
        config=settings.prompting,
        seed=seed,
        count=count,
        steps=steps,
    )
    report = _report(built, _tokenizer(settings))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        _print_report(report)
    return 0


def _tokenizer(settings: Settings) -> Any | None:
    """The default model's own tokenizer from its files (the three families share CLIP's BPE
    vocabulary), or None when this host has none: the counts are then estimates, marked."""
    from generation.catalog import Catalog
    from generation.tokenizer_shelf import TokenizerShelf

    catalog = Catalog.load(settings.engine.models_file)
    if settings.engine.default_model not in catalog:
        return None
    spec = catalog.resolve(settings.engine.default_model)
    return TokenizerShelf(settings.engine.cache_dir).for_model(spec)


def _report(built: BuiltPrompt, tokenizer: Any | None = None) -> dict[str, Any]:
    tokens = tokens_of(built, tokenizer)
    warnings = [w for w in lint_built(built, tokenizer) if w.code != WarningCode.TOKEN_COUNT]
    return {
        "positive": built.positive_text,
        "negative": built.negative_text,
        "compel": built.positive,
        "negative_compel": built.negative,
        "dialect": built.dialect,
        "style": built.preset.name if built.preset else None,
        "tokens": tokens.model_dump(),
        "edits": [edit.model_dump() for edit in built.edits],
        "per_image": built.per_image_positives,
        "warnings": [w.model_dump(mode="json") for w in warnings],
    }


def _print_report(report: dict[str, Any]) -> None:
    tokens = report["tokens"]
    estimated = " (estimated)" if tokens["estimated"] else ""
    lines = [
        f"positive:        {report['positive']}",
        f"negative:        {report['negative']}",
        f"compel:          {report['compel']}",
        f"negative compel: {report['negative_compel']}",
        f"dialect:         {report['dialect']}"
        + (f", style {report['style']}" if report["style"] else ""),
        f"tokens:          {tokens['total']} in {len(tokens['chunks'])} chunk(s) "
        f"{tokens['chunks']}, window {tokens['limit']}{estimated}",
    ]
    lines += [f"from step {e['from_step']}:    {e['prompt']}" for e in report["edits"]]
    if report["per_image"]:
        lines += [f"image {i + 1}:         {p}" for i, p in enumerate(report["per_image"])]
    lines += [f"warning [{w['code']}]: {w['message']}" for w in report["warnings"]]
    print("\n".join(lines))


def run_styles(args: argparse.Namespace, settings: Settings) -> int:
    library = load_library(settings.prompting.presets_file)
    if args.json:
        print(json.dumps([preset.model_dump() for preset in library], ensure_ascii=False))
        return 0
    width = max(len(name) for name in library.names())
    for preset in library:
        extras = [
            f"{label} {value}"
            for label, value in (
                ("steps", preset.steps),
                ("cfg", preset.cfg),
                ("scheduler", preset.scheduler),
                ("aspect", preset.aspect),
            )
            if value is not None
        ]
        suffix = f"  ({', '.join(extras)})" if extras else ""
        print(f"{preset.name:<{width}}  {preset.description}{suffix}")
    return 0
