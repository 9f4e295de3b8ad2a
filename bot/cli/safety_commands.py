"""``muralist check`` and ``muralist check-image``: the safety verdicts from a shell.

Exit codes: 0 allowed / safe, 1 blocked / flagged / could not be checked, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot.config import Settings
from safety.errors import InvalidSafetyInput
from safety.images import ImageChecker
from safety.models import ChannelFlags, GuildSafety
from safety.prompt_filter import PromptFilter
from safety.terms import load_terms_file

EXIT_ALLOWED = 0
EXIT_BLOCKED = 1


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check",
        help="check a prompt against the safety filter",
        description="Print the prompt verdict (default: an SFW channel). "
        "Exit 0 allowed, 1 blocked, 2 bad input.",
    )
    check.add_argument("prompt", help="the positive prompt")
    check.add_argument("--negative", default="", help="the negative prompt (never blocks)")
    check.add_argument(
        "--nsfw-channel",
        action="store_true",
        help="an age-restricted channel of a guild that allows NSFW there",
    )
    check.add_argument("--guild-terms", type=Path, help="a guild term file (TOML)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_check)

    image = subparsers.add_parser(
        "check-image",
        help="check an image with the image classifier",
        description="Print the image verdict. Exit 0 safe, 1 flagged or uncheckable, 2 bad input.",
    )
    image.add_argument("path", type=Path, help="an image file (PNG, JPEG, WebP, ...)")
    image.add_argument("--json", action="store_true", help="print one JSON object")
    image.set_defaults(handler=_check_image)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    guild = GuildSafety(allow_nsfw_in_age_restricted=args.nsfw_channel)
    if args.guild_terms is not None:
        extra = load_terms_file(args.guild_terms)
        guild = guild.model_copy(update={"terms": extra.terms, "exemptions": extra.exemptions})
    verdict = PromptFilter(settings.safety).check(
        args.prompt, args.negative, channel=ChannelFlags(nsfw=args.nsfw_channel), guild=guild
    )
    if args.json:
        print(json.dumps(verdict.model_dump(mode="json"), ensure_ascii=False))
    else:
        print("allowed" if verdict.allowed else f"blocked: {verdict.reason}")
        for match in verdict.matches:
            print(f"  {match.category}: {match.found!r} (term {match.term!r}, {match.origin})")
        if verdict.absolute:
            print("  absolute rule: sexual content with a minor (recorded by the bot)")
    return EXIT_ALLOWED if verdict.allowed else EXIT_BLOCKED


def _check_image(args: argparse.Namespace, settings: Settings) -> int:
    try:
        data = args.path.read_bytes()
    except OSError as exc:
        raise InvalidSafetyInput("path", f"cannot read {args.path}: {exc.strerror}") from exc
    verdict = ImageChecker(settings.safety).check(data)
    if args.json:
        print(json.dumps(verdict.model_dump(mode="json"), ensure_ascii=False))
    else:
        size = f"{verdict.width}×{verdict.height}" if verdict.width else "unknown size"
        print(f"{verdict.status} ({size}, {verdict.seconds * 1000:.0f} ms)")
        for reason in verdict.reasons:
            print(f"  {reason}")
    return EXIT_ALLOWED if verdict.safe else EXIT_BLOCKED
