"""Discord's documented rules that its OpenAPI schema cannot express, each with its page.

These run after a body has passed the schema (``loopback.spec``), as Discord's own second phase
does: the schema has already checked types, lengths and the kinds of components, so the code here
reads fields without defending against wrong types. Each function returns the breaches found
(empty when the payload keeps the rules), with the path of the field at fault.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from loopback.spec import Breach, FieldPath

DOCS = "https://discord.com/developers/docs"
MESSAGE_DOC = f"{DOCS}/resources/message#create-message"
MENTIONS_DOC = f"{DOCS}/resources/message#allowed-mentions-object"
EMBED_DOC = f"{DOCS}/resources/message#embed-object-embed-limits"
COMPONENTS_DOC = f"{DOCS}/components/reference"
BUTTON_DOC = f"{DOCS}/components/reference#button"
ACTION_ROW_DOC = f"{DOCS}/components/reference#action-row"
MODAL_DOC = f"{DOCS}/interactions/receiving-and-responding#interaction-response-object-modal"
CALLBACK_DOC = f"{DOCS}/interactions/receiving-and-responding#interaction-response-object-messages"
FOLLOWUP_DOC = f"{DOCS}/interactions/receiving-and-responding#create-followup-message"
COMMANDS_DOC = f"{DOCS}/interactions/application-commands"
NAMING_DOC = f"{COMMANDS_DOC}#application-command-object-application-command-naming"
OPTIONS_DOC = f"{COMMANDS_DOC}#application-command-object-application-command-option-structure"
LIMITS_DOC = f"{COMMANDS_DOC}#registering-a-command"
COMMAND_LENGTH_DOC = f"{COMMANDS_DOC}#application-command-object-application-command-structure"

# Message flags (https://discord.com/developers/docs/resources/message#message-object-message-flags).
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_VOICE_MESSAGE = 1 << 13
IS_COMPONENTS_V2 = 1 << 15

#: Flags a bot may set, per kind of send (each from the page of that endpoint).
FLAGS_ALLOWED = {
    # Create Message: "only SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, IS_VOICE_MESSAGE and
    # IS_COMPONENTS_V2 can be set" (MESSAGE_DOC).
    "channel_create": SUPPRESS_EMBEDS
    | SUPPRESS_NOTIFICATIONS
    | IS_VOICE_MESSAGE
    | IS_COMPONENTS_V2,
    # Edit Message: "only SUPPRESS_EMBEDS can be set/unset", IS_COMPONENTS_V2 only set
    # (https://discord.com/developers/docs/resources/message#edit-message).
    "edit": SUPPRESS_EMBEDS | IS_COMPONENTS_V2,
    # Interaction response "messages" data: "only SUPPRESS_EMBEDS, EPHEMERAL,
    # SUPPRESS_NOTIFICATIONS and IS_COMPONENTS_V2 can be set" (CALLBACK_DOC); the same for a
    # follow-up (FOLLOWUP_DOC).
    "callback_message": SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2,
    # A deferred response only says whether the message to come is ephemeral (CALLBACK_DOC).
    "callback_deferred": EPHEMERAL,
    # UPDATE_MESSAGE edits the component's message: ephemerality cannot change (CALLBACK_DOC).
    "callback_update": SUPPRESS_EMBEDS | IS_COMPONENTS_V2,
    "followup": SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2,
}

MAX_CONTENT = 2000  # "content: up to 2000 characters" (MESSAGE_DOC); the spec says 4000
MAX_EMBED_TOTAL = 6000  # characters over all embeds of a message (EMBED_DOC)
MAX_ROW_WIDTH = 5
MAX_MODAL_COMPONENTS = 5  # "between 1 and 5 components" (MODAL_DOC)
MAX_V2_COMPONENTS = 40  # components in all, nested ones counted (COMPONENTS_DOC)
MAX_COMMAND_CHARS = 8000  # name, description, options and choices of one command
MAX_OPTION_LENGTH = 6000  # max_length of a string option (OPTIONS_DOC)
#: "up to 100 top-level CHAT_INPUT commands, 15 USER and 15 MESSAGE commands" (LIMITS_DOC).
MAX_COMMANDS = {1: 100, 2: 15, 3: 15}

SELECTS = {3, 5, 6, 7, 8}
V2_TOP_LEVEL = {9, 10, 12, 13, 14, 17}  # section, text display, gallery, file, separator, container
NUMERIC_OPTIONS = {4, 10}
STRING_OPTION = 3
SUBCOMMANDS = {1, 2}


def _b(path: FieldPath, message: str, doc: str, code: str = "BASE_TYPE_INVALID") -> Breach:
    return Breach(path, code, f"{message} ({doc})")


# ----------------------------------------------------------------------------- messages
def check_flags(flags: int | None, kind: str, path: FieldPath = ("flags",)) -> list[Breach]:
    allowed = FLAGS_ALLOWED[kind]
    extra = int(flags or 0) & ~allowed
    if not extra:
        return []
    doc = MESSAGE_DOC if kind in ("channel_create", "edit") else CALLBACK_DOC
    return [_b(path, f"flags {extra} cannot be set here (allowed: {allowed})", doc)]


def check_mentions(allowed: dict[str, Any] | None, path: FieldPath) -> list[Breach]:
    """``parse: ["users"]`` with a ``users`` list (or roles and roles) is refused (MENTIONS_DOC)."""
    problems = []
    for kind in ("users", "roles"):
        if allowed and kind in (allowed.get("parse") or []) and allowed.get(kind):
            problems.append(
                _b(
                    (*path, kind),
                    f"parse contains {kind!r} and a {kind} list is given: they are exclusive",
                    MENTIONS_DOC,
                )
            )
    return problems


def is_empty(body: dict[str, Any], files: int) -> bool:
    keys = ("content", "embeds", "components", "sticker_ids", "poll", "attachments")
    return not files and not any(body.get(k) for k in keys)


def check_empty(body: dict[str, Any], files: int) -> list[Breach]:
    """A new message needs content, embeds, components, stickers, a poll or a file (MESSAGE_DOC)."""
    if not is_empty(body, files):
        return []
    return [Breach((), "MESSAGE_EMPTY", "Cannot send an empty message", json_code=50006)]


def _embed_chars(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for item in embed.get("fields") or []:
        total += len(item.get("name") or "") + len(item.get("value") or "")
    return total


def check_embeds(embeds: list[dict[str, Any]] | None) -> list[Breach]:
    """Embed fields need a name and a value; 6,000 characters over all embeds (EMBED_DOC)."""
    problems = []
    for index, embed in enumerate(embeds or []):
        for number, item in enumerate(embed.get("fields") or []):
            for key in ("name", "value"):
                if not item.get(key):
                    path = ("embeds", index, "fields", number, key)
                    problems.append(_b(path, "an embed field needs a name and a value", EMBED_DOC))
    total = sum(_embed_chars(e) for e in embeds or [])
    if total > MAX_EMBED_TOTAL:
        problems.append(
            _b(
                ("embeds",),
                f"at most {MAX_EMBED_TOTAL} characters in all embeds, got {total}",
                EMBED_DOC,
                "BASE_TYPE_MAX_LENGTH",
            )
        )
    return problems


def _button(child: dict[str, Any], at: FieldPath) -> list[Breach]:
    """Styles 1-4 carry a custom_id; link (5) a url; premium (6) a sku_id, and nothing else."""
    style = child.get("style")
    has = {k for k in ("custom_id", "url", "sku_id") if child.get(k)}
    wanted = {5: {"url"}, 6: {"sku_id"}}.get(int(style or 0), {"custom_id"})
    problems = []
    if has != wanted:
        problems.append(
            _b(
                at,
                f"a button of style {style} has {sorted(wanted)} only, got {sorted(has)}",
                BUTTON_DOC,
            )
        )
    if style == 6 and (child.get("label") or child.get("emoji")):
        problems.append(_b(at, "a premium button has no label and no emoji", BUTTON_DOC))
    if style != 6 and not child.get("label") and not child.get("emoji"):
        problems.append(_b(at, "a button needs a label or an emoji", BUTTON_DOC))
    emoji = child.get("emoji") or {}
    if emoji and not emoji.get("id") and not emoji.get("name"):
        problems.append(_b((*at, "emoji"), "an emoji needs an id or a name", BUTTON_DOC))
    return problems


def _walk(
    components: list[dict[str, Any]], path: FieldPath
) -> list[tuple[FieldPath, dict[str, Any]]]:
    """Every component with its path, nested ones (rows, containers, sections) included."""
    found: list[tuple[FieldPath, dict[str, Any]]] = []
    for index, component in enumerate(components):
        at = (*path, index)
        found.append((at, component))
        found += _walk(component.get("components") or [], (*at, "components"))
        if isinstance(component.get("accessory"), dict):
            found.append(((*at, "accessory"), component["accessory"]))
        if isinstance(component.get("component"), dict):
            found.append(((*at, "component"), component["component"]))
    return found


def _unique_ids(found: list[tuple[FieldPath, dict[str, Any]]]) -> list[Breach]:
    """custom_ids are unique within a message or modal (COMPONENTS_DOC, "Custom ID")."""
    seen: set[str] = set()
    problems = []
    for at, component in found:
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if custom_id in seen:
            problems.append(
                _b(
                    (*at, "custom_id"),
                    f"{custom_id!r} is used twice in one message",
                    COMPONENTS_DOC,
                )
            )
        seen.add(custom_id)
    return problems


def check_components(components: list[dict[str, Any]] | None, flags: int | None) -> list[Breach]:
    """Message components: action rows only unless IS_COMPONENTS_V2; rows hold ≤ 5 buttons or
    one select; buttons as their style says; unique custom ids."""
    components = components or []
    v2 = bool(int(flags or 0) & IS_COMPONENTS_V2)
    problems = []
    found = _walk(components, ("components",))
    if not v2:
        if len(components) > 5:
            problems.append(
                _b(("components",), f"at most 5 action rows, got {len(components)}", ACTION_ROW_DOC)
            )
        for index, component in enumerate(components):
            if component.get("type") != 1:
                problems.append(
                    _b(
                        ("components", index),
                        f"component type {component.get('type')} needs the IS_COMPONENTS_V2 flag; "
                        "without it only action rows are allowed at the top",
                        COMPONENTS_DOC,
                    )
                )
    elif len(found) > MAX_V2_COMPONENTS:
        problems.append(
            _b(
                ("components",),
                f"at most {MAX_V2_COMPONENTS} components in all, got {len(found)}",
                COMPONENTS_DOC,
            )
        )
    for at, component in found:
        kind = component.get("type")
        if kind == 1:
            children = component.get("components") or []
            if any(c.get("type") in SELECTS for c in children) and len(children) > 1:
                problems.append(
                    _b(at, "a select menu must be alone in its action row", ACTION_ROW_DOC)
                )
        elif kind == 2:
            problems += _button(component, at)
    return problems + _unique_ids(found)


def check_v2_message(body: dict[str, Any]) -> list[Breach]:
    """With IS_COMPONENTS_V2, content, embeds, stickers and polls are refused (COMPONENTS_DOC)."""
    if not int(body.get("flags") or 0) & IS_COMPONENTS_V2:
        return []
    return [
        _b(
            (key,),
            "cannot be used with the IS_COMPONENTS_V2 flag; use a text display",
            COMPONENTS_DOC,
        )
        for key in ("content", "embeds", "sticker_ids", "poll")
        if body.get(key)
    ]


def check_message(
    body: dict[str, Any], flags_kind: str, *, create: bool, files: int
) -> list[Breach]:
    """Every rule of a message create or edit, beyond the schema."""
    problems = check_flags(body.get("flags"), flags_kind)
    content = body.get("content") or ""
    if len(content) > MAX_CONTENT:
        problems.append(
            _b(
                ("content",),
                f"at most {MAX_CONTENT} characters, got {len(content)}",
                MESSAGE_DOC,
                "BASE_TYPE_MAX_LENGTH",
            )
        )
    problems += check_mentions(body.get("allowed_mentions"), ("allowed_mentions",))
    problems += check_embeds(body.get("embeds"))
    problems += check_components(body.get("components"), body.get("flags"))
    problems += check_v2_message(body)
    if create and not problems:
        problems += check_empty(body, files)
    return problems


def check_attachments(
    body: dict[str, Any], uploads: list[int], existing: set[int] | None = None
) -> list[Breach]:
    """Each ``attachments[].id`` names an uploaded ``files[n]`` (n) or, on an edit, an attachment
    the message already has (https://discord.com/developers/docs/reference#uploading-files)."""
    doc = f"{DOCS}/reference#uploading-files"
    problems = []
    for index, attachment in enumerate(body.get("attachments") or []):
        ident = int(attachment["id"])
        if ident not in uploads and ident not in (existing or set()):
            problems.append(
                _b(
                    ("attachments", index, "id"),
                    f"no files[{ident}] was uploaded and the message has no attachment {ident}",
                    doc,
                )
            )
    return problems


# ----------------------------------------------------------------------------- modals
def check_modal(data: dict[str, Any]) -> list[Breach]:
    """1-5 top-level components; a text input in a legacy action row has its label, one inside a
    Label has none; min_length ≤ max_length (MODAL_DOC, COMPONENTS_DOC#text-input)."""
    components = data.get("components") or []
    problems = []
    if len(components) > MAX_MODAL_COMPONENTS:
        problems.append(
            _b(
                ("data", "components"),
                f"at most {MAX_MODAL_COMPONENTS} components, got {len(components)}",
                MODAL_DOC,
            )
        )
    found = _walk(components, ("data", "components"))
    doc = f"{COMPONENTS_DOC}#text-input"
    for at, component in found:
        if component.get("type") == 1:
            for number, child in enumerate(component.get("components") or []):
                if not child.get("label"):
                    problems.append(
                        _b(
                            (*at, "components", number, "label"),
                            "a text input in an action row needs a label",
                            doc,
                        )
                    )
        if component.get("type") == 18 and (component.get("component") or {}).get("label"):
            problems.append(
                _b(
                    (*at, "component", "label"),
                    "a text input inside a Label takes no label of its own",
                    doc,
                )
            )
        low, high = component.get("min_length"), component.get("max_length")
        if low is not None and high is not None and low > high:
            problems.append(
                _b((*at, "min_length"), f"min_length {low} is over max_length {high}", doc)
            )
    return problems + _unique_ids(found)


# ----------------------------------------------------------------------------- commands
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
            _b(
                path,
                f"{name!r} does not match {NAME_PATTERN}",
                NAMING_DOC,
                "APPLICATION_COMMAND_INVALID_NAME",
            )
        ]
    if chat and name != name.lower():
        return [
            _b(path, f"{name!r} must be lowercase", NAMING_DOC, "APPLICATION_COMMAND_INVALID_NAME")
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
            _b((*at, key), f"only integer and number options take {key}", OPTIONS_DOC)
            for key in ("min_value", "max_value")
            if key in option
        ]
    if kind != STRING_OPTION:
        problems += [
            _b((*at, key), f"only string options take {key}", OPTIONS_DOC)
            for key in ("min_length", "max_length")
            if key in option
        ]
    for low_key, high_key in (("min_value", "max_value"), ("min_length", "max_length")):
        low, high = option.get(low_key), option.get(high_key)
        if low is not None and high is not None and low > high:
            problems.append(
                _b((*at, low_key), f"{low_key} {low} is over {high_key} {high}", OPTIONS_DOC)
            )
    if (option.get("max_length") or 0) > MAX_OPTION_LENGTH:
        problems.append(_b((*at, "max_length"), f"at most {MAX_OPTION_LENGTH}", OPTIONS_DOC))
    if option.get("choices") and option.get("autocomplete"):
        problems.append(
            _b((*at, "autocomplete"), "choices and autocomplete cannot be combined", OPTIONS_DOC)
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
        problems.append(_b(at, "sub-commands and plain options cannot be mixed", OPTIONS_DOC))
    for index, option in enumerate(options):
        path = (*at, index)
        if option.get("name") in names:
            problems.append(
                _b((*path, "name"), f"{option.get('name')!r} is used twice", OPTIONS_DOC)
            )
        names.add(option.get("name", ""))
        if option.get("type") not in SUBCOMMANDS:
            if option.get("required") and seen_optional:
                problems.append(
                    _b(path, "required options must come before optional ones", OPTIONS_DOC)
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
                _b(
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
                    _b(
                        (index, "description"),
                        "a chat command needs 1-100 characters",
                        COMMAND_LENGTH_DOC,
                    )
                )
            problems += _check_options(command.get("options") or [], (index, "options"))
        elif command.get("description") or command.get("options"):
            problems.append(
                _b(
                    (index,),
                    "user and message commands take no description or options",
                    COMMAND_LENGTH_DOC,
                )
            )
        chars = _chars(command)
        if chars > MAX_COMMAND_CHARS:
            problems.append(
                _b(
                    (index,),
                    f"at most {MAX_COMMAND_CHARS} characters per command, got {chars}",
                    COMMAND_LENGTH_DOC,
                )
            )
    for kind, count in sorted(per_type.items()):
        limit = MAX_COMMANDS.get(kind, 0)
        if count > limit:
            problems.append(
                _b((), f"at most {limit} commands of type {kind}, got {count}", LIMITS_DOC)
            )
    return problems
