"""Style presets: data (TOML), looked up by forgiving name, extended by files and per call.

The shipped ``presets.toml`` comes first; the operator's ``presets_file`` (same format) extends it
and replaces presets of the same name; a guild's presets come from the bot as plain ``Preset``
values passed per call and win over both. Templates are plain words around ``{prompt}``, so a
preset reads the same in both prompt dialects.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prompting.errors import PresetFileError, PromptError

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_FORBIDDEN_IN_TEMPLATE = set('()[]{}|\\"')


def preset_key(name: str) -> str:
    """``"Oil Painting"``, ``oil_painting`` and ``oil-painting`` all name one preset."""
    return "-".join(re.split(r"[\s_-]+", name.strip().lower())).strip("-")


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = Field(default="", max_length=200)
    positive: str = Field(description="Template with {prompt} exactly once.")
    negative: tuple[str, ...] = ()
    steps: Annotated[int, Field(ge=1, le=150)] | None = None
    cfg: Annotated[float, Field(ge=0.0, le=30.0)] | None = None
    scheduler: str | None = None
    aspect: Annotated[str, Field(pattern=r"^\d{1,2}:\d{1,2}$")] | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        key = preset_key(value)
        if not _NAME.match(key):
            raise ValueError(
                "use 1-40 letters, digits and hyphens, starting with a letter or digit"
            )
        return key

    @field_validator("positive")
    @classmethod
    def _template(cls, value: str) -> str:
        if value.count("{prompt}") != 1:
            raise ValueError("the template must hold {prompt} exactly once")
        bad = _FORBIDDEN_IN_TEMPLATE & set(value.replace("{prompt}", ""))
        if bad:
            raise ValueError(f"plain words only; remove {''.join(sorted(bad))}")
        return value

    def apply(self, text: str) -> str:
        return self.positive.replace("{prompt}", text)


class PresetLibrary:
    """Presets by name; ``with_extra`` layers a guild's presets for one call."""

    def __init__(self, presets: Iterable[Preset]) -> None:
        self._presets: dict[str, Preset] = {preset.name: preset for preset in presets}

    def __len__(self) -> int:
        return len(self._presets)

    def __iter__(self) -> Any:
        return iter(sorted(self._presets.values(), key=lambda p: p.name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and preset_key(name) in self._presets

    def names(self) -> list[str]:
        return sorted(self._presets)

    def with_extra(self, extra: Iterable[Preset] | None) -> PresetLibrary:
        if not extra:
            return self
        return PresetLibrary([*self._presets.values(), *extra])

    def get(self, name: str) -> Preset:
        """The preset named ``name``; a PromptError on ``style`` with the closest names if none."""
        key = preset_key(name)
        if key in self._presets:
            return self._presets[key]
        close = difflib.get_close_matches(key, self.names(), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise PromptError(
            "style",
            f"unknown preset {name!r}.{hint} See `muralist styles` for the list.",
            code="unknown_preset",
        )


def parse_presets(data: Mapping[str, Any], source: str) -> list[Preset]:
    table = data.get("presets", {})
    if not isinstance(table, dict) or set(data) - {"presets"}:
        raise PresetFileError(f"{source}: expected only [presets.NAME] tables")
    presets = []
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise PresetFileError(f"{source}: presets.{name} must be a table")
        if "name" in entry:
            raise PresetFileError(
                f"{source}: presets.{name}.name: the table's name is the preset's; remove `name`"
            )
        try:
            presets.append(Preset(name=name, **entry))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise PresetFileError(f"{source}: presets.{name}.{where}: {problem['msg']}") from exc
    return presets


def load_presets_file(path: Path) -> list[Preset]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PresetFileError(f"{path} does not exist") from exc
    except OSError as exc:  # a folder, no permission, ...
        raise PresetFileError(f"cannot read {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetFileError(f"{path} is not valid TOML: {exc}") from exc
    return parse_presets(data, str(path))


@cache
def shipped_presets() -> tuple[Preset, ...]:
    text = resources.files("prompting").joinpath("presets.toml").read_text(encoding="utf-8")
    return tuple(parse_presets(tomllib.loads(text), "prompting/presets.toml"))


def load_library(presets_file: Path | None = None) -> PresetLibrary:
    """The shipped presets, extended (and overridden by name) by the operator's file."""
    library = PresetLibrary(shipped_presets())
    if presets_file is not None:
        library = library.with_extra(load_presets_file(presets_file))
    return library
