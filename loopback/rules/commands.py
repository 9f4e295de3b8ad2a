"""Rules of application commands: names (Unicode letters, lowercase), option kinds and ranges,
8,000 characters per command, and how many commands of each type."""

from __future__ import annotations

import unicodedata
from typing import Any

from loopback.rules.docs import (
    COMMAND_LENGTH_DOC,
    LIMITS_DOC,
    MAX_COMMAND_CHARS,
    MAX_COMMANDS,
    MAX_OPTION_LENGTH,
    NAMING_DOC,
    NUMERIC_OPTIONS,
    OPTIONS_DOC,
    STRING_OPTION,
    SUBCOMMANDS,
    breach,
)
from loopback.spec import Breach, FieldPath

NAME_PATTERN = r"^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$"


def _name_char_ok(char: str) -> bool:
    # ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$ (NAMING_DOC), with stdlib tools: letters and
    # numbers by category, Devanagari and Thai (their vowel signs are marks) by block.
    if char in "-_'":
        return True
    if unicodedata.category(char)[0] in "LN":
        return True
    point = ord(char)
    return 0x0900 <= point <= 0x097F or 0xA8E0 <= point <= 0xA8FF or 0x0E00 <= point <= 0x0E7F


def _check_name(name: str, path: FieldPath, chat: bool) -> list[Breach]:
    if chat and not all(_name_char_ok(c) for c in name):
        return [
            breach(
                path,
                f"{name!r} does not match {NAME_PATTERN}",
                NAMING_DOC,
                "APPLICATION_COMMAND_INVALID_NAME",
            )
        ]
    if chat and name != name.lower():
        return [
            breach(
                path, f"{name!r} must be lowercase", NAMING_DOC, "APPLICATION_COMMAND_INVALID_NAME"
            )
        ]
    return []


def _longest(text: str | None, localized: dict[str, str] | None) -> int:
    return max([len(text or ""), *(len(v) for v in (localized or {}).values())])


def _chars(item: dict[str, Any]) -> int:
    """Characters counted toward 8,000: the longest localization of each name and description,
    and choices' names and values (COMMAND_LENGTH_DOC)."""
    total = _longest(item.get("name"), item.get("name_localizations"))
    total += _longest(item.get("description"), item.get("description_localizations"))
    for choice in item.get("choices") or []:
        total += _longest(choice.get("name"), choice.get("name_localizations"))
        total += len(str(choice.get("value")))
    return total + sum(_chars(o) for o in item.get("options") or [])


def _check_option(option: dict[str, Any], at: FieldPath) -> list[Breach]:
    kind = option.get("type")
    problems = _check_name(option.get("name", ""), (*at, "name"), chat=True)
    if kind not in NUMERIC_OPTIONS:
        problems += [
            breach((*at, key), f"only integer and number options take {key}", OPTIONS_DOC)
            for key in ("min_value", "max_value")
            if key in option
        ]
    if kind != STRING_OPTION:
        problems += [
            breach((*at, key), f"only string options take {key}", OPTIONS_DOC)
            for key in ("min_length", "max_length")
            if key in option
        ]
    for low_key, high_key in (("min_value", "max_value"), ("min_length", "max_length")):
        low, high = option.get(low_key), option.get(high_key)
        if low is not None and high is not None and low > high:
            problems.append(
                breach((*at, low_key), f"{low_key} {low} is over {high_key} {high}", OPTIONS_DOC)
            )
    if (option.get("max_length") or 0) > MAX_OPTION_LENGTH:
        problems.append(breach((*at, "max_length"), f"at most {MAX_OPTION_LENGTH}", OPTIONS_DOC))
    if option.get("choices") and option.get("autocomplete"):
        problems.append(
            breach(
                (*at, "autocomplete"), "choices and autocomplete cannot be combined", OPTIONS_DOC
            )
        )
    if kind in SUBCOMMANDS:
        problems += _check_options(option.get("options") or [], (*at, "options"))
    return problems


def _check_options(options: list[dict[str, Any]], at: FieldPath) -> list[Breach]:
    problems = []
    names: set[str] = set()
    seen_optional = False
    subcommands = [o for o in options if o.get("type") in SUBCOMMANDS]
    if subcommands and len(subcommands) != len(options):
        problems.append(breach(at, "sub-commands and plain options cannot be mixed", OPTIONS_DOC))
    for index, option in enumerate(options):
        path = (*at, index)
        if option.get("name") in names:
            problems.append(
                breach((*path, "name"), f"{option.get('name')!r} is used twice", OPTIONS_DOC)
            )
        names.add(option.get("name", ""))
        if option.get("type") not in SUBCOMMANDS:
            if option.get("required") and seen_optional:
                problems.append(
                    breach(path, "required options must come before optional ones", OPTIONS_DOC)
                )
            seen_optional = seen_optional or not option.get("required")
        problems += _check_option(option, path)
    return problems


def check_commands(commands: list[dict[str, Any]]) -> list[Breach]:
    """A bulk overwrite (``PUT .../commands``): names, options, sizes and counts per type."""
    problems: list[Breach] = []
    per_type: dict[int, int] = {}
    keys: set[tuple[int, str]] = set()
    for index, command in enumerate(commands):
        kind = int(command.get("type") or 1)
        per_type[kind] = per_type.get(kind, 0) + 1
        name = command.get("name", "")
        if (kind, name) in keys:
            problems.append(
                breach(
                    (index, "name"),
                    f"{name!r} is used twice by commands of type {kind}",
                    LIMITS_DOC,
                )
            )
        keys.add((kind, name))
        problems += _check_name(name, (index, "name"), chat=kind == 1)
        if kind == 1:
            if not command.get("description"):
                problems.append(
                    breach(
                        (index, "description"),
                        "a chat command needs 1-100 characters",
                        COMMAND_LENGTH_DOC,
                    )
                )
            problems += _check_options(command.get("options") or [], (index, "options"))
        elif command.get("description") or command.get("options"):
            problems.append(
                breach(
                    (index,),
                    "user and message commands take no description or options",
                    COMMAND_LENGTH_DOC,
                )
            )
        chars = _chars(command)
        if chars > MAX_COMMAND_CHARS:
            problems.append(
                breach(
                    (index,),
                    f"at most {MAX_COMMAND_CHARS} characters per command, got {chars}",
                    COMMAND_LENGTH_DOC,
                )
            )
    for kind, count in sorted(per_type.items()):
        limit = MAX_COMMANDS.get(kind, 0)
        if count > limit:
            problems.append(
                breach((), f"at most {limit} commands of type {kind}, got {count}", LIMITS_DOC)
            )
    return problems
