"""Read a setting's or an option's allowed range from its pydantic field.

Ranges are declared once, on the fields (``Field(ge=…, le=…)``, also inside ``Annotated`` and
``X | None``); command declarations, validators and error messages read them from there.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel


def bounds(model: type[BaseModel], name: str) -> tuple[Any, Any]:
    """``(low, high)`` of ``model.name``: ``ge``/``gt`` and ``le``/``lt`` for numbers,
    ``min_length`` and ``max_length`` for texts; None where unbounded."""
    low = high = None
    for meta in constraints(model, name):
        low = _first(meta, "ge", "gt", "min_length", default=low)
        high = _first(meta, "le", "lt", "max_length", default=high)
    return low, high


def describe(model: type[BaseModel], name: str, between: str = "..") -> str:
    """The allowed values as a user reads them: ``1..100`` (``between`` joins the two ends),
    else the field's description."""
    low, high = bounds(model, name)
    if low is not None and high is not None:
        return f"{_number(low)}{between}{_number(high)}"
    return model.model_fields[name].description or "a valid value"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def constraints(model: type[BaseModel], name: str) -> list[Any]:
    """The field's constraint objects (``Ge``, ``Le``, ``MaxLen``, …), its own and those of
    ``Annotated`` types inside ``X | None``."""
    field = model.model_fields[name]
    found = list(field.metadata)
    for arg in typing.get_args(field.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            found += list(arg.__metadata__)
            for item in arg.__metadata__:
                found += list(getattr(item, "metadata", []))
    return found


def _first(meta: Any, *names: str, default: Any) -> Any:
    for name in names:
        value = getattr(meta, name, None)
        if value is not None:
            return value
    return default
