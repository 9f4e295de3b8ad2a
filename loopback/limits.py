"""Discord's documented limits on what a bot sends, as checks that return the breaches found.

Each function returns a list of human-readable problems (empty when the payload is valid), so the
loopback server can record every breach at once and answer with Discord's own error shape.
"""

from __future__ import annotations

import re
from typing import Any

NAME_RE = re.compile(r"^[-_'\w]{1,32}$")
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ROWS = 5
MAX_ROW_WIDTH = 5
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMANDS = 100
MAX_CUSTOM_ID = 100

_EMBED_LIMITS = {"title": 256, "description": 4096}


def _check_name(where: str, name: Any, problems: list[str]) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name) or name != name.lower():
        problems.append(f"{where}.name {name!r}: 1-32 lowercase letters, digits, - or _")


def _check_description(where: str, text: Any, problems: list[str]) -> None:
    if not isinstance(text, str) or not 1 <= len(text) <= 100:
        problems.append(f"{where}.description: must be 1-100 characters, got {text!r}")


def _check_options(where: str, options: list[dict[str, Any]], problems: list[str]) -> None:
    if len(options) > MAX_OPTIONS:
        problems.append(f"{where}.options: at most {MAX_OPTIONS}, got {len(options)}")
    seen_optional = False
    names: set[str] = set()
    for index, option in enumerate(options):
        at = f"{where}.options[{index}]"
        _check_name(at, option.get("name"), problems)
        _check_description(at, option.get("description"), problems)
        if option.get("name") in names:
            problems.append(f"{at}.name {option.get('name')!r}: duplicate option name")
        names.add(option.get("name", ""))
        if option.get("type") in (1, 2):  # sub-command (group): nested options
            _check_options(at, option.get("options") or [], problems)
            continue
        if option.get("required"):
            if seen_optional:
                problems.append(f"{at}: required options must come before optional ones")
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > MAX_CHOICES:
            problems.append(f"{at}.choices: at most {MAX_CHOICES}, got {len(choices)}")
        if choices and option.get("autocomplete"):
            problems.append(f"{at}: choices and autocomplete cannot be combined")
        problems.extend(check_choices(f"{at}.choices", choices))


def check_choices(where: str, choices: list[dict[str, Any]]) -> list[str]:
    """Choices of an option or of an autocomplete result: ≤ 25, names 1-100, values ≤ 100."""
    problems: list[str] = []
    if len(choices) > MAX_CHOICES:
        problems.append(f"{where}: at most {MAX_CHOICES} choices, got {len(choices)}")
    for index, choice in enumerate(choices):
        name = choice.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            problems.append(f"{where}[{index}].name: must be 1-100 characters, got {name!r}")
        value = choice.get("value")
        if isinstance(value, str) and len(value) > 100:
            problems.append(f"{where}[{index}].value: at most 100 characters")
    return problems


def check_commands(commands: list[dict[str, Any]]) -> list[str]:
    """A bulk overwrite of application commands (``PUT /applications/{id}/commands``)."""
    problems: list[str] = []
    per_type: dict[int, int] = {}
    keys: set[tuple[int, str]] = set()
    for index, command in enumerate(commands):
        where = f"commands[{index}]"
        kind = int(command.get("type", 1))
        per_type[kind] = per_type.get(kind, 0) + 1
        key = (kind, str(command.get("name")))
        if key in keys:
            problems.append(f"{where}.name {command.get('name')!r}: duplicate command name")
        keys.add(key)
        if kind == 1:
            _check_name(where, command.get("name"), problems)
            _check_description(where, command.get("description"), problems)
            _check_options(where, command.get("options") or [], problems)
        else:  # user and message context menus: free-form name, empty description
            name = command.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 32:
                problems.append(f"{where}.name: must be 1-32 characters, got {name!r}")
            if command.get("description"):
                problems.append(f"{where}.description: context menu commands take none")
    for kind, count in per_type.items():
        if count > MAX_COMMANDS:
            problems.append(f"commands of type {kind}: at most {MAX_COMMANDS}, got {count}")
    return problems


def check_embeds(embeds: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    if len(embeds) > MAX_EMBEDS:
        problems.append(f"embeds: at most {MAX_EMBEDS}, got {len(embeds)}")
    total = 0
    for index, embed in enumerate(embeds):
        where = f"embeds[{index}]"
        for key, limit in _EMBED_LIMITS.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                problems.append(f"{where}.{key}: at most {limit} characters, got {len(text)}")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append(f"{where}.fields: at most 25, got {len(fields)}")
        for number, field in enumerate(fields):
            name, value = field.get("name") or "", field.get("value") or ""
            total += len(name) + len(value)
            if not 1 <= len(name) <= 256:
                problems.append(f"{where}.fields[{number}].name: must be 1-256 characters")
            if not 1 <= len(value) <= 1024:
                problems.append(f"{where}.fields[{number}].value: must be 1-1024 characters")
        footer = (embed.get("footer") or {}).get("text") or ""
        author = (embed.get("author") or {}).get("name") or ""
        total += len(footer) + len(author)
        if len(footer) > 2048:
            problems.append(f"{where}.footer.text: at most 2048 characters")
        if len(author) > 256:
            problems.append(f"{where}.author.name: at most 256 characters")
    if total > MAX_EMBED_TOTAL:
        problems.append(f"embeds: at most {MAX_EMBED_TOTAL} characters in all, got {total}")
    return problems


def _check_custom_id(where: str, custom_id: Any, seen: set[str], problems: list[str]) -> None:
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        problems.append(
            f"{where}.custom_id: must be 1-{MAX_CUSTOM_ID} characters, got {custom_id!r}"
        )
        return
    if custom_id in seen:
        problems.append(f"{where}.custom_id {custom_id!r}: duplicate in one message")
    seen.add(custom_id)


def check_components(components: list[dict[str, Any]]) -> list[str]:
    """Message components: ≤ 5 action rows of ≤ 5 buttons (or one select), unique custom ids."""
    problems: list[str] = []
    if len(components) > MAX_ROWS:
        problems.append(f"components: at most {MAX_ROWS} action rows, got {len(components)}")
    seen: set[str] = set()
    for index, row in enumerate(components):
        where = f"components[{index}]"
        if row.get("type") != 1:
            problems.append(f"{where}: top-level components must be action rows (type 1)")
            continue
        children = row.get("components") or []
        if not children:
            problems.append(f"{where}: an action row needs at least one component")
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if selects and len(children) > 1:
            problems.append(f"{where}: a select menu must be alone in its row")
        if len(children) > MAX_ROW_WIDTH:
            problems.append(f"{where}: at most {MAX_ROW_WIDTH} buttons, got {len(children)}")
        for number, child in enumerate(children):
            at = f"{where}.components[{number}]"
            if child.get("type") == 2 and child.get("style") == 5:
                if not child.get("url") or child.get("custom_id"):
                    problems.append(f"{at}: a link button has a url and no custom_id")
            else:
                _check_custom_id(at, child.get("custom_id"), seen, problems)
            label = child.get("label") or ""
            if len(label) > 80:
                problems.append(f"{at}.label: at most 80 characters, got {len(label)}")
            if child.get("type") == 2 and not label and not child.get("emoji"):
                problems.append(f"{at}: a button needs a label or an emoji")
    return problems


def check_message(payload: dict[str, Any], file_count: int = 0) -> list[str]:
    """Content, embeds and components of a message create or edit."""
    problems: list[str] = []
    content = payload.get("content") or ""
    if len(content) > MAX_CONTENT:
        problems.append(f"content: at most {MAX_CONTENT} characters, got {len(content)}")
    problems.extend(check_embeds(payload.get("embeds") or []))
    problems.extend(check_components(payload.get("components") or []))
    if file_count > 10:
        problems.append(f"files: at most 10 per message, got {file_count}")
    return problems


def check_modal(payload: dict[str, Any]) -> list[str]:
    """A modal (interaction callback type 9): title ≤ 45, 1-5 text inputs with labels ≤ 45."""
    problems: list[str] = []
    seen: set[str] = set()
    _check_custom_id("modal", payload.get("custom_id"), seen, problems)
    title = payload.get("title") or ""
    if not 1 <= len(title) <= 45:
        problems.append(f"modal.title: must be 1-45 characters, got {len(title)}")
    rows = payload.get("components") or []
    if not 1 <= len(rows) <= 5:
        problems.append(f"modal.components: 1-5 components, got {len(rows)}")
    for index, row in enumerate(rows):
        children = row.get("components") if row.get("type") == 1 else [row.get("component")]
        for child in children or []:
            at = f"modal.components[{index}]"
            if not child:
                problems.append(f"{at}: empty")
                continue
            _check_custom_id(at, child.get("custom_id"), seen, problems)
            label = child.get("label") or row.get("label") or ""
            if child.get("type") == 4 and not 1 <= len(label) <= 45:
                problems.append(f"{at}.label: must be 1-45 characters, got {len(label)}")
            value = child.get("value") or ""
            if len(value) > 4000:
                problems.append(f"{at}.value: at most 4000 characters, got {len(value)}")
            if int(child.get("max_length") or 0) > 4000:
                problems.append(f"{at}.max_length: at most 4000")
    return problems
