"""The model catalog: which names exist, where each loads from, and how it likes to be used.

Data, not code: ``catalog.toml`` ships in the package and a user's TOML file
(``engine.models_file``) adds or replaces entries by name. Resolving a name needs no torch, so the
bot can validate a ``/imagine model:`` choice and show native sizes without loading anything.
A path to a diffusers folder or a ``.safetensors``/``.ckpt`` file also resolves, with its family
read from the files' metadata; hub ids must be named in a catalog, so a chat user can never make
the bot download an arbitrary repository.
"""

from __future__ import annotations

import json
import struct
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from generation import sizes
from generation.errors import InvalidRequest, ModelLoadError, ModelNotFound
from generation.requests import MAX_SIDE, MIN_SIDE
from generation.schedulers import SchedulerName
from generation.tiny import BUILDERS, tiny_model_folder

Family = Literal["sd1", "sd2", "sdxl"]
SourceKind = Literal["builtin", "hub", "folder", "checkpoint"]

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")
SOURCES: tuple[SourceKind, ...] = ("builtin", "hub", "folder", "checkpoint")
_SHIPPED = "catalog.toml"


class CatalogError(InvalidRequest):
    """A catalog file is unreadable or an entry is malformed; the message names file and field."""

    def __init__(self, message: str) -> None:
        super().__init__("engine.models_file", message)


class ModelSpec(BaseModel):
    """One catalog entry: a model's source and the defaults it is best used with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    builtin: str | None = None
    hub: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    folder: Path | None = None
    checkpoint: Path | None = None
    config: Path | None = Field(
        default=None, description="Local diffusers folder (configs + tokenizer) for a checkpoint."
    )
    family: Family
    native_size: tuple[int, int] = (0, 0)  # (0, 0): the family's native side, filled in below
    default_negative: str = Field(default="", max_length=2000)
    scheduler: SchedulerName | None = None
    description: str = ""

    @field_validator("native_size", mode="before")
    @classmethod
    def _square_from_number(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, int) else value

    @field_validator("native_size")
    @classmethod
    def _valid_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value == (0, 0):
            return value
        for side in value:
            if not MIN_SIDE <= side <= MAX_SIDE or side % 8:
                raise ValueError(f"sides must be multiples of 8 in {MIN_SIDE}..{MAX_SIDE}")
        return value

    @field_validator("builtin")
    @classmethod
    def _known_builtin(cls, value: str | None) -> str | None:
        if value is not None and value not in BUILDERS:
            raise ValueError(f"unknown built-in model; use one of {', '.join(sorted(BUILDERS))}")
        return value

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_suffix(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise ValueError(f"must be a {' or '.join(CHECKPOINT_SUFFIXES)} file")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        given = [kind for kind in SOURCES if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                f"set exactly one source of {', '.join(SOURCES)} (got {', '.join(given) or 'none'})"
            )
        if self.config is not None and self.checkpoint is None:
            raise ValueError("`config` only goes with a `checkpoint` source")
        if self.native_size == (0, 0):
            object.__setattr__(self, "native_size", sizes.native_size(self.family))
        return self

    @property
    def source(self) -> SourceKind:
        return next(kind for kind in SOURCES if getattr(self, kind) is not None)

    def with_family(self, family: Family) -> ModelSpec:
        """This entry as another family (the loader corrects a catalog that named the wrong one).

        An explicit ``native_size`` stays; a defaulted one follows the new family.
        """
        data = self.model_dump(exclude_unset=True)
        data["family"] = family
        return ModelSpec.model_validate(data)

    def location(self, cache_dir: Path) -> str:
        """Where the weights load from: a local folder or file, or the hub id when not cached."""
        if self.builtin is not None:
            return str(tiny_model_folder(self.builtin, cache_dir))
        if self.hub is not None:
            return hub_snapshot(self.hub) or self.hub
        return str(self.folder or self.checkpoint)


def unavailable(spec: ModelSpec) -> str | None:
    """Why ``spec`` cannot load on this host without a download, or None: a hub model not in
    the local cache while ``HF_HUB_OFFLINE`` is set, or a folder or checkpoint that is gone."""
    if spec.hub is not None:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE and hub_snapshot(spec.hub) is None:
            return f"{spec.hub} is not downloaded on this host and the hub is offline"
        return None
    for kind in ("folder", "checkpoint"):
        path = getattr(spec, kind)
        if path is not None and not Path(path).exists():
            return f"its {kind} {path} does not exist"
    return None


def hub_snapshot(repo_id: str) -> str | None:
    """The local snapshot folder of a hub repository when it was downloaded before, else None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return str(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


class Catalog:
    """The shipped entries with the user's merged over them, looked up by name or path."""

    def __init__(self, entries: dict[str, ModelSpec]) -> None:
        self._entries = dict(entries)

    @classmethod
    def load(cls, user_file: Path | None = None) -> Catalog:
        shipped = resources.files("generation").joinpath(_SHIPPED).read_text(encoding="utf-8")
        entries = parse_catalog(shipped, origin=_SHIPPED, base=None)
        if user_file is not None:
            path = Path(user_file)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError as exc:
                raise CatalogError(f"{path} does not exist") from exc
            except (OSError, UnicodeDecodeError) as exc:
                raise CatalogError(f"{path} cannot be read: {exc}") from exc
            entries.update(parse_catalog(text, origin=str(path), base=path.parent))
        return cls(entries)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def resolve(self, model: str) -> ModelSpec:
        """The entry named ``model``, or an ad-hoc entry for a folder or checkpoint path."""
        if model in self._entries:
            return self._entries[model]
        path = Path(model).expanduser()
        if path.is_dir():
            return ModelSpec(name=model, folder=path, family=folder_family(path, model))
        if path.is_file():
            if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
                raise ModelLoadError(
                    model, f"not a diffusers folder or a {'/'.join(CHECKPOINT_SUFFIXES)} checkpoint"
                )
            return ModelSpec(name=model, checkpoint=path, family=checkpoint_family(path, model))
        raise ModelNotFound(
            f"unknown model {model!r}; use one of {', '.join(self._entries)}, "
            "or the path of a diffusers folder or a .safetensors/.ckpt checkpoint"
        )


def parse_catalog(text: str, *, origin: str, base: Path | None) -> dict[str, ModelSpec]:
    """Parse catalog TOML; relative paths are resolved against ``base`` (the file's folder)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{origin} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"models"})
    if unknown:
        raise CatalogError(f"{origin}: unknown top-level key {unknown[0]!r}; use [models.NAME]")
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise CatalogError(f"{origin}: `models` must be a table of [models.NAME] tables")
    entries: dict[str, ModelSpec] = {}
    for name, fields in models.items():
        if not isinstance(fields, dict):
            raise CatalogError(f"{origin}: [models.{name}] must be a table")
        values = dict(fields, name=name)
        for key in ("folder", "checkpoint", "config"):
            if isinstance(values.get(key), str) and base is not None:
                values[key] = base / Path(values[key]).expanduser()
        try:
            entries[name] = ModelSpec.model_validate(values)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "entry"
            message = problem["msg"].removeprefix("Value error, ")
            raise CatalogError(f"{origin}: [models.{name}] {where}: {message}") from exc
    return entries


def folder_family(folder: Path, model: str) -> Family:
    """A diffusers folder's family from its JSON configs (no weights read)."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        if "XL" in str(index.get("_class_name", "")):
            return "sdxl"
        encoder = folder / "text_encoder" / "config.json"
        scheduler = folder / "scheduler" / "scheduler_config.json"
        hidden = _json_field(encoder, "hidden_size")
        prediction = _json_field(scheduler, "prediction_type")
    except FileNotFoundError as exc:
        raise ModelLoadError(model, "no model_index.json: not a diffusers folder") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise ModelLoadError(model, f"unreadable config ({exc})") from exc
    return "sd2" if hidden == 1024 or prediction == "v_prediction" else "sd1"


def _json_field(path: Path, key: str) -> Any:
    return json.loads(path.read_text(encoding="utf-8")).get(key) if path.is_file() else None


def checkpoint_family(path: Path, model: str) -> Family:
    """A checkpoint's family from its tensor names (safetensors header only; .ckpt → sd1).

    Reading a pickled ``.ckpt`` means loading all of it, so those are taken as SD 1.x unless a
    catalog entry says otherwise; the loader corrects the family after loading anyway.
    """
    if path.suffix.lower() != ".safetensors":
        return "sd1"
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise ValueError("header too large")
            keys = json.loads(handle.read(length)).keys()
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(model, f"not a readable safetensors file ({exc})") from exc
    if any(key.startswith("conditioner.embedders.1.") for key in keys):
        return "sdxl"
    if any(key.startswith("cond_stage_model.model.") for key in keys):
        return "sd2"
    return "sd1"
