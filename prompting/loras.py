"""A1111's extra-network tags ``<lora:name:weight>``: taken out of the prompt text, as data.

The tag is not text for the encoder: A1111 removes it and loads the named LoRA at the weight
given (the catalog's default weight when left out). ``<lora:name:te:unet>`` (separate text
encoder and UNet weights) is read with the first weight for both. A name is checked against the
catalog later, by the room that knows it; here only the syntax and the weight's range are.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from prompting.errors import PromptError
from prompting.notices import PromptWarning, WarningCode

MIN_LORA_WEIGHT = -2.0
MAX_LORA_WEIGHT = 2.0

_TAG = re.compile(r"<\s*lora\s*:\s*([^:<>]+?)\s*(?::\s*([^:<>]*?)\s*)?(?::[^<>]*)?>", re.IGNORECASE)


class LoraTag(BaseModel):
    """One LoRA a prompt asks for, by catalog name, with its weight (None: the LoRA's default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    weight: float | None = Field(default=None, ge=MIN_LORA_WEIGHT, le=MAX_LORA_WEIGHT)


def parse_weight(field: str, name: str, text: str | None) -> float | None:
    """The weight in ``<lora:name:text>`` (None when empty), or a ``PromptError`` on ``field``."""
    if text is None or not text.strip():
        return None
    try:
        weight = float(text)
    except ValueError:
        raise PromptError(
            field, f"LoRA {name!r} has the weight {text!r}; write a number, e.g. <lora:{name}:0.8>"
        ) from None
    if not MIN_LORA_WEIGHT <= weight <= MAX_LORA_WEIGHT:
        raise PromptError(
            field,
            f"LoRA {name!r} has the weight {weight:g}; "
            f"use {MIN_LORA_WEIGHT:g}..{MAX_LORA_WEIGHT:g}",
        )
    return weight


def extract_loras(field: str, text: str) -> tuple[str, list[LoraTag], list[PromptWarning]]:
    """``text`` without its LoRA tags, the tags in order (each name once), and warnings."""
    tags: dict[str, LoraTag] = {}
    warnings: list[PromptWarning] = []
    for match in _TAG.finditer(text):
        name = match.group(1)
        weight = parse_weight(field, name, match.group(2))
        if name in tags and tags[name].weight != weight:
            warnings.append(
                PromptWarning(
                    code=WarningCode.LORA_REPEATED,
                    message=f"LoRA {name!r} is named twice; the last weight is used",
                )
            )
        tags[name] = LoraTag(name=name, weight=weight)
    if not tags:
        return text, [], []
    stripped = " ".join(_TAG.sub(" ", text).split())
    stripped = re.sub(r"\s+,", ",", stripped).strip(" ,")
    return stripped, list(tags.values()), warnings
