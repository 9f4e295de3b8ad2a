"""Rules of components: buttons by style, action rows, components v2, unique custom ids, modals."""

from __future__ import annotations

from typing import Any

from loopback.rules.docs import (
    ACTION_ROW_DOC,
    BUTTON_DOC,
    COMPONENTS_DOC,
    IS_COMPONENTS_V2,
    MAX_MODAL_COMPONENTS,
    MAX_V2_COMPONENTS,
    MESSAGE_DOC,
    MODAL_DOC,
    SELECTS,
    breach,
)
from loopback.spec import Breach, FieldPath


def _button(child: dict[str, Any], at: FieldPath) -> list[Breach]:
    """Styles 1-4 carry a custom_id; link (5) a url; premium (6) a sku_id, and nothing else."""
    style = child.get("style")
    has = {k for k in ("custom_id", "url", "sku_id") if child.get(k)}
    wanted = {5: {"url"}, 6: {"sku_id"}}.get(int(style or 0), {"custom_id"})
    problems = []
    if has != wanted:
        problems.append(
            breach(
                at,
                f"a button of style {style} has {sorted(wanted)} only, got {sorted(has)}",
                BUTTON_DOC,
            )
        )
    if style == 6 and (child.get("label") or child.get("emoji")):
        problems.append(breach(at, "a premium button has no label and no emoji", BUTTON_DOC))
    if style != 6 and not child.get("label") and not child.get("emoji"):
        problems.append(breach(at, "a button needs a label or an emoji", BUTTON_DOC))
    emoji = child.get("emoji") or {}
    if emoji and not emoji.get("id") and not emoji.get("name"):
        problems.append(breach((*at, "emoji"), "an emoji needs an id or a name", BUTTON_DOC))
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
                breach(
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
                breach(
                    ("components",), f"at most 5 action rows, got {len(components)}", ACTION_ROW_DOC
                )
            )
        for index, component in enumerate(components):
            if component.get("type") != 1:
                problems.append(
                    breach(
                        ("components", index),
                        f"component type {component.get('type')} needs the IS_COMPONENTS_V2 flag; "
                        "without it only action rows are allowed at the top",
                        COMPONENTS_DOC,
                    )
                )
    elif len(found) > MAX_V2_COMPONENTS:
        problems.append(
            breach(
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
                    breach(at, "a select menu must be alone in its action row", ACTION_ROW_DOC)
                )
        elif kind == 2:
            problems += _button(component, at)
    return problems + _unique_ids(found)


def check_v2_message(body: dict[str, Any]) -> list[Breach]:
    """With IS_COMPONENTS_V2, content, embeds, stickers and polls are refused (COMPONENTS_DOC)."""
    if not int(body.get("flags") or 0) & IS_COMPONENTS_V2:
        return []
    return [
        breach(
            (key,),
            "cannot be used with the IS_COMPONENTS_V2 flag; use a text display",
            COMPONENTS_DOC,
        )
        for key in ("content", "embeds", "sticker_ids", "poll")
        if body.get(key)
    ]


def check_edit_of_v2(message_flags: int, body: dict[str, Any]) -> list[Breach]:
    """A message sent with IS_COMPONENTS_V2 keeps the flag and takes no content or embeds
    (https://discord.com/developers/docs/resources/message#edit-message)."""
    if not message_flags & IS_COMPONENTS_V2:
        return []
    problems = []
    if "flags" in body and not int(body["flags"] or 0) & IS_COMPONENTS_V2:
        problems.append(
            breach(("flags",), "IS_COMPONENTS_V2 cannot be removed once set", MESSAGE_DOC)
        )
    return problems + [
        breach((key,), "a components v2 message takes no content or embeds", COMPONENTS_DOC)
        for key in ("content", "embeds")
        if body.get(key)
    ]


def check_modal(data: dict[str, Any]) -> list[Breach]:
    """1-5 top-level components; a text input in a legacy action row has its label, one inside a
    Label has none; min_length ≤ max_length (MODAL_DOC, COMPONENTS_DOC#text-input)."""
    components = data.get("components") or []
    problems = []
    if len(components) > MAX_MODAL_COMPONENTS:
        problems.append(
            breach(
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
                        breach(
                            (*at, "components", number, "label"),
                            "a text input in an action row needs a label",
                            doc,
                        )
                    )
        if component.get("type") == 18 and (component.get("component") or {}).get("label"):
            problems.append(
                breach(
                    (*at, "component", "label"),
                    "a text input inside a Label takes no label of its own",
                    doc,
                )
            )
        low, high = component.get("min_length"), component.get("max_length")
        if low is not None and high is not None and low > high:
            problems.append(
                breach((*at, "min_length"), f"min_length {low} is over max_length {high}", doc)
            )
    return problems + _unique_ids(found)
