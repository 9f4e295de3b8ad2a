"""The bot's boundary: an interaction's options checked against the command the bot declared.

Discord checks option names, types and ranges against the declared command in its own client,
but the bot must not rely on it: a stale client, a proxy, or a forged payload can deliver an
unknown option, a string where a number was declared, a count of 0 or a prompt longer than the
declared limit, and discord.py passes such values to the callback as they came. Each breach here
is one ``InvalidRequest`` naming the option and what is allowed, before any command runs (the
request models behind the commands check their ranges again: ``studio.ImagineOptions.parse``).
"""

from __future__ import annotations

import math
from typing import Any

from discord import AppCommandOptionType, app_commands

from studio.errors import InvalidRequest

_SUBCOMMANDS = (AppCommandOptionType.subcommand.value, AppCommandOptionType.subcommand_group.value)
_SNOWFLAKE_TYPES = {
    AppCommandOptionType.user,
    AppCommandOptionType.channel,
    AppCommandOptionType.role,
    AppCommandOptionType.mentionable,
    AppCommandOptionType.attachment,
}
_WORDS = {
    AppCommandOptionType.string: "a text",
    AppCommandOptionType.integer: "a whole number",
    AppCommandOptionType.number: "a number",
    AppCommandOptionType.boolean: "true or false",
    AppCommandOptionType.user: "a member",
    AppCommandOptionType.channel: "a channel",
    AppCommandOptionType.role: "a role",
    AppCommandOptionType.mentionable: "a member or a role",
    AppCommandOptionType.attachment: "a file",
}
SAFE_INTEGER = 2**53
"""Discord's limit for integer options (and JSON's safe integers)."""


def typed(current: Any) -> str:
    """What a member has typed so far into an autocompleted option, as text: a forged payload
    may send a number, a list or nothing; only the first 100 characters can matter."""
    return current[:100] if isinstance(current, str) else ""


def leaf_options(data: Any) -> list[dict[str, Any]]:
    """The options of the sub-command that runs (the payload nests them under its groups);
    ``InvalidRequest`` when they are not a list of named options at every level."""
    options: Any = data.get("options", []) if isinstance(data, dict) else None
    while True:
        if not isinstance(options, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in options
        ):
            raise InvalidRequest("options", "the command's options are malformed")
        if len(options) == 1 and options[0].get("type") in _SUBCOMMANDS:
            options = options[0].get("options", [])
            continue
        return options


def check_options(
    command: app_commands.Command[Any, ..., Any], options: list[dict[str, Any]]
) -> None:
    """Raise ``InvalidRequest`` for the first option that breaks ``command``'s declaration."""
    declared = {p.display_name: p for p in command.parameters}
    seen: set[str] = set()
    for option in options:
        name: str = option["name"]
        parameter = declared.get(name)
        if parameter is None:
            known = ", ".join(declared) or "none"
            raise InvalidRequest(name, f"/{command.qualified_name} has no such option ({known})")
        if name in seen:
            raise InvalidRequest(name, "given twice")
        seen.add(name)
        if option.get("focused"):
            continue  # autocomplete: a value being typed
        _check_value(parameter, option.get("type"), option.get("value"))
    for parameter in command.parameters:
        if parameter.required and parameter.display_name not in seen:
            raise InvalidRequest(parameter.display_name, "is required")


def _check_value(parameter: app_commands.Parameter, kind: Any, value: Any) -> None:
    name, declared = parameter.display_name, parameter.type
    wanted = _WORDS.get(declared, declared.name)
    if kind != declared.value or not _has_type(declared, value):
        raise InvalidRequest(name, f"must be {wanted} (got {_shown(value)})")
    low, high = parameter.min_value, parameter.max_value
    if declared is AppCommandOptionType.string and not _within(len(value), low, high):
        raise InvalidRequest(
            name, f"must be {_span(low, high)} characters long (got {len(value)} characters)"
        )
    numeric = declared in (AppCommandOptionType.integer, AppCommandOptionType.number)
    if numeric and not _within(value, low, high):
        raise InvalidRequest(name, f"must be in {_span(low, high)} (got {_shown(value)})")
    choices = parameter.choices
    if choices and value not in [c.value for c in choices]:
        allowed = ", ".join(str(c.value) for c in choices[:10])
        raise InvalidRequest(name, f"must be one of: {allowed} (got {_shown(value)})")


def _has_type(declared: AppCommandOptionType, value: Any) -> bool:
    if declared is AppCommandOptionType.string:
        return isinstance(value, str)
    if declared is AppCommandOptionType.boolean:
        return isinstance(value, bool)
    if declared is AppCommandOptionType.integer:
        return type(value) is int and abs(value) <= SAFE_INTEGER
    if declared is AppCommandOptionType.number:
        return type(value) in (int, float) and math.isfinite(value) and abs(value) <= SAFE_INTEGER
    if declared in _SNOWFLAKE_TYPES:
        return isinstance(value, str) and value.isdigit() and len(value) <= 20
    return True


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _span(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{low:g}..{high:g}" if isinstance(low, float) else f"{low}..{high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def completes(command: app_commands.Command[Any, ..., Any], options: list[dict[str, Any]]) -> bool:
    """Whether an autocomplete interaction asks for an option the command completes (one
    focused option, declared, with an autocomplete); discord.py raises on any other."""
    focused = [o for o in options if o.get("focused")]
    declared = {p.display_name: p for p in command.parameters}
    if len(focused) != 1 or any(o["name"] not in declared for o in options):
        return False
    return declared[focused[0]["name"]].autocomplete
