"""The model catalog: which names exist, where each loads from, and how it likes to be used.

Data, not code: ``catalog.toml`` ships in the package and a user's TOML file
(``engine.models_file``) adds or replaces entries by name. Resolving a name needs no torch, so the
bot can validate a ``/imagine model:`` choice and show native sizes without loading anything.
A path to a diffusers folder or a ``.safetensors``/``.ckpt`` file also resolves, with its family
read from the files' metadata; hub ids must be named in a catalog, so a chat user can never make
the bot download an arbitrary repository.

Besides ``[models.NAME]`` a catalog lists adapters: ``[loras.NAME]`` (a LoRA file or hub id for
one family, with its default weight) and ``[embeddings.NAME]`` (a textual-inversion embedding and
the token that calls it). A model entry may carry its own sampling defaults (``steps``,
``max_steps``, ``guidance``) and LoRAs (``loras``), which is how the few-step draft entries
(SDXL-Turbo, SDXL-Lightning, LCM-LoRA, FLUX.1-schnell, SD 3.5 Large Turbo) are written;
``draft_of`` names the full model a draft stands in for (its result's U button repaints there).
``[ip_adapters.NAME]`` and ``[controlnets.NAME]`` are the image guides (``generation.guide_specs``):
each family's IP-Adapter for style/character references and its ControlNets per preprocessor.
"""

from __future__ import annotations

import json
import struct
import tomllib
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from generation import sizes
from generation.builtins import ADAPTERS, BUILDERS, adapter_file, builtin_folder
from generation.errors import InvalidRequest, ModelLoadError, ModelNotFound
from generation.guide_specs import ControlNetSpec, GuideSpec, IpAdapterSpec
from generation.requests import (
    MAX_GUIDANCE,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    AdapterUse,
    ControlMode,
    ReferenceKind,
)
from generation.schedulers import SchedulerName
from prompting.loras import MAX_LORA_WEIGHT, MIN_LORA_WEIGHT
from prompting.negatives import ModelFamily

Family = ModelFamily
SourceKind = Literal["builtin", "hub", "folder", "checkpoint"]
AdapterSource = Literal["builtin", "hub", "file"]

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
    steps: int | None = Field(default=None, ge=1, le=MAX_STEPS, description="Default steps.")
    max_steps: int | None = Field(
        default=None, ge=1, le=MAX_STEPS, description="Most steps it runs (few-step models)."
    )
    guidance: float | None = Field(
        default=None,
        ge=0.0,
        le=MAX_GUIDANCE,
        description="Default guidance: CFG scale, or FLUX.1-dev's distilled guidance.",
    )
    draft_of: str | None = Field(
        default=None, description="The full model this fast entry drafts for (U repaints there)."
    )
    loras: tuple[AdapterUse, ...] = Field(
        default=(), description="LoRAs always applied (e.g. LCM-LoRA, SDXL-Lightning)."
    )
    t5: bool = Field(
        default=True, description="SD 3.5: load the T5 encoder (false: less memory, CLIP only)."
    )
    max_sequence_length: int | None = Field(
        default=None, ge=16, le=512, description="Tokens the T5 encoder reads (FLUX.1, SD 3.5)."
    )
    inpainting: bool = Field(
        default=False,
        description="A dedicated inpainting checkpoint (9-channel UNet): masked edits only.",
    )
    inpaint: str | None = Field(
        default=None,
        description="The inpainting entry that paints this model's masked edits (zoom, pan, "
        "vary region); without one the model itself inpaints (AutoPipelineForInpainting).",
    )

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
        if self.inpainting and self.inpaint is not None:
            raise ValueError("an inpainting entry paints its own masked edits; drop `inpaint`")
        if self.inpainting and (self.draft_of is not None or self.loras):
            raise ValueError("an inpainting entry takes no `draft_of` or `loras`")
        if self.steps and self.max_steps and self.steps > self.max_steps:
            raise ValueError(f"steps {self.steps} is more than max_steps {self.max_steps}")
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
            return str(builtin_folder(self.builtin, cache_dir))
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


class AdapterSpec(BaseModel):
    """A LoRA or an embedding in the catalog: one source, the family it was trained for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^:<>\s]+$")
    builtin: str | None = None
    hub: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    file: Path | None = None
    weight_name: str | None = Field(
        default=None, description="The file inside a hub repository (hub sources only)."
    )
    family: Family
    description: str = ""

    @field_validator("builtin")
    @classmethod
    def _known_builtin(cls, value: str | None) -> str | None:
        if value is not None and value not in ADAPTERS:
            raise ValueError(f"unknown built-in adapter; use one of {', '.join(sorted(ADAPTERS))}")
        return value

    @field_validator("file")
    @classmethod
    def _safetensors(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in (".safetensors", ".bin", ".pt"):
            raise ValueError("must be a .safetensors (or .bin/.pt) file")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> AdapterSpec:
        given = [kind for kind in ("builtin", "hub", "file") if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                f"set exactly one source of builtin, hub, file (got {', '.join(given) or 'none'})"
            )
        if self.weight_name is not None and self.hub is None:
            raise ValueError("`weight_name` only goes with a `hub` source")
        return self

    @property
    def source(self) -> AdapterSource:
        return "builtin" if self.builtin else "hub" if self.hub else "file"

    def location(self, cache_dir: Path) -> tuple[str, str | None]:
        """(what ``load_lora_weights``/``load_textual_inversion`` takes, ``weight_name``)."""
        if self.builtin is not None:
            path = adapter_file(self.builtin, cache_dir)
            return str(path.parent), path.name
        if self.hub is not None:
            return self.hub, self.weight_name
        assert self.file is not None
        return str(self.file.parent), self.file.name


class LoraSpec(AdapterSpec):
    weight: float = Field(
        default=1.0, ge=MIN_LORA_WEIGHT, le=MAX_LORA_WEIGHT, description="Default weight."
    )


class EmbeddingSpec(AdapterSpec):
    token: str = Field(
        default="", max_length=100, description="The word that calls it (default: <NAME>)."
    )

    @model_validator(mode="after")
    def _default_token(self) -> EmbeddingSpec:
        if not self.token:
            object.__setattr__(self, "token", f"<{self.name}>")
        return self


class Catalog:
    """The shipped entries with the user's merged over them, looked up by name or path."""

    def __init__(
        self,
        entries: dict[str, ModelSpec],
        loras: dict[str, LoraSpec] | None = None,
        embeddings: dict[str, EmbeddingSpec] | None = None,
        ip_adapters: dict[str, IpAdapterSpec] | None = None,
        controlnets: dict[str, ControlNetSpec] | None = None,
    ) -> None:
        self._entries = dict(entries)
        self.loras = dict(loras or {})
        self.embeddings = dict(embeddings or {})
        self.ip_adapters = dict(ip_adapters or {})
        self.controlnets = dict(controlnets or {})

    @classmethod
    def load(cls, user_file: Path | None = None) -> Catalog:
        shipped = resources.files("generation").joinpath(_SHIPPED).read_text(encoding="utf-8")
        tables = parse_tables(shipped, origin=_SHIPPED, base=None)
        if user_file is not None:
            path = Path(user_file)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError as exc:
                raise CatalogError(f"{path} does not exist") from exc
            except (OSError, UnicodeDecodeError) as exc:
                raise CatalogError(f"{path} cannot be read: {exc}") from exc
            for kind, entries in parse_tables(text, origin=str(path), base=path.parent).items():
                tables[kind].update(entries)
        catalog = cls(
            tables["models"],  # type: ignore[arg-type]
            tables["loras"],  # type: ignore[arg-type]
            tables["embeddings"],  # type: ignore[arg-type]
            tables["ip_adapters"],  # type: ignore[arg-type]
            tables["controlnets"],  # type: ignore[arg-type]
        )
        catalog.check_links()
        return catalog

    def check_links(self) -> None:
        """Every ``draft_of`` names a model of the same family; every model's LoRA exists and
        was made for its family (``CatalogError`` naming the entry)."""
        for spec in self:
            full = self._entries.get(spec.draft_of) if spec.draft_of else None
            if spec.draft_of and (full is None or full.family != spec.family):
                raise CatalogError(
                    f"[models.{spec.name}] draft_of: {spec.draft_of!r} is not a {spec.family} "
                    "model of the catalog"
                )
            if spec.inpaint is not None:
                twin = self._entries.get(spec.inpaint)
                if twin is None or not twin.inpainting or twin.family != spec.family:
                    raise CatalogError(
                        f"[models.{spec.name}] inpaint: {spec.inpaint!r} is not a {spec.family} "
                        "inpainting entry of the catalog (one with inpainting = true)"
                    )
            for use in spec.loras:
                lora = self.loras.get(use.name)
                if lora is None or lora.family != spec.family:
                    raise CatalogError(
                        f"[models.{spec.name}] loras: {use.name!r} is not a {spec.family} LoRA "
                        "of the catalog ([loras.NAME])"
                    )

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        """The models to paint with (inpainting checkpoints paint masked edits only)."""
        return [name for name, spec in self._entries.items() if not spec.inpainting]

    def inpainter(self, model: str) -> ModelSpec:
        """The entry that paints ``model``'s masked edits: its ``inpaint`` twin, else itself."""
        spec = self.resolve(model)
        return self._entries[spec.inpaint] if spec.inpaint is not None else spec

    def lora_names(self) -> list[str]:
        return list(self.loras)

    def lora(self, name: str, family: str | None = None) -> LoraSpec:
        """The LoRA ``name``; ``family`` given, refused unless it was trained for that family."""
        spec = self.loras.get(name)
        if spec is None:
            known = ", ".join(self.loras) or "none are listed"
            raise InvalidRequest("lora", f"unknown LoRA {name!r}; choose one of: {known}")
        if family is not None and spec.family != family:
            raise InvalidRequest(
                "lora",
                f"LoRA {name!r} is for {spec.family} models, not {family}; "
                f"choose one of: {', '.join(self.loras_for(family)) or 'none for this family'}",
            )
        return spec

    def loras_for(self, family: str) -> list[str]:
        return [name for name, spec in self.loras.items() if spec.family == family]

    def embeddings_for(self, family: str) -> list[EmbeddingSpec]:
        return [spec for spec in self.embeddings.values() if spec.family == family]

    def ip_adapter_for(self, spec: ModelSpec, kind: ReferenceKind) -> IpAdapterSpec:
        """The IP-Adapter ``spec``'s model uses for references (see ``generation.guide_specs``);
        ``InvalidRequest`` on ``sref``/``cref`` when its family has none in the catalog."""
        found = _guide_for(spec, self.ip_adapters.values())
        if found is None:
            families = sorted({entry.family for entry in self.ip_adapters.values()})
            raise InvalidRequest(
                "sref" if kind == "style" else "cref",
                f"{spec.name} ({spec.family}) has no IP-Adapter in the catalog, so it cannot take "
                f"{kind} references; use a model of another family ({', '.join(families)})",
            )
        return found

    def controlnet_for(self, spec: ModelSpec, mode: ControlMode) -> ControlNetSpec:
        """The ControlNet for ``mode`` that ``spec``'s model uses; ``InvalidRequest`` on
        ``control_mode`` when the catalog has none for its family and mode."""
        found = _guide_for(spec, [c for c in self.controlnets.values() if c.mode == mode])
        if found is None:
            modes = sorted({c.mode for c in self.controlnets.values() if _fits(spec, c)})
            raise InvalidRequest(
                "control_mode",
                f"{spec.name} ({spec.family}) has no {mode} ControlNet in the catalog; "
                + (f"use {' or '.join(modes)}" if modes else "use a model of another family"),
            )
        return found

    def drafts(self) -> list[ModelSpec]:
        """The few-step entries (``draft_of`` set), in catalog order."""
        return [spec for spec in self if spec.draft_of is not None]

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


_TABLES: dict[str, type[BaseModel]] = {
    "models": ModelSpec,
    "loras": LoraSpec,
    "embeddings": EmbeddingSpec,
    "ip_adapters": IpAdapterSpec,
    "controlnets": ControlNetSpec,
}

G = TypeVar("G", bound=GuideSpec)


def _fits(spec: ModelSpec, guide: GuideSpec) -> bool:
    return guide.family == spec.family and guide.fits(spec.builtin)


def _guide_for(spec: ModelSpec, guides: Iterable[G]) -> G | None:
    """The last of ``guides`` for ``spec``'s family and weights (built-ins for built-ins)."""
    found = [guide for guide in guides if _fits(spec, guide)]
    return found[-1] if found else None


def parse_catalog(text: str, *, origin: str, base: Path | None) -> dict[str, ModelSpec]:
    """The ``[models.NAME]`` entries of catalog TOML (see ``parse_tables``)."""
    return parse_tables(text, origin=origin, base=base)["models"]  # type: ignore[return-value]


def parse_tables(text: str, *, origin: str, base: Path | None) -> dict[str, dict[str, Any]]:
    """Parse catalog TOML into its models, loras and embeddings; relative paths are resolved
    against ``base`` (the file's folder)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{origin} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(_TABLES))
    if unknown:
        raise CatalogError(
            f"{origin}: unknown top-level key {unknown[0]!r}; "
            "use [models.NAME], [loras.NAME], [embeddings.NAME], [ip_adapters.NAME] or "
            "[controlnets.NAME]"
        )
    tables: dict[str, dict[str, Any]] = {}
    for kind, model in _TABLES.items():
        table = data.get(kind, {})
        if not isinstance(table, dict):
            raise CatalogError(f"{origin}: `{kind}` must be a table of [{kind}.NAME] tables")
        entries: dict[str, Any] = {}
        for name, fields in table.items():
            if not isinstance(fields, dict):
                raise CatalogError(f"{origin}: [{kind}.{name}] must be a table")
            values = dict(fields, name=name)
            for key in ("folder", "checkpoint", "config", "file"):
                if isinstance(values.get(key), str) and base is not None:
                    values[key] = base / Path(values[key]).expanduser()
            try:
                entries[name] = model.model_validate(values)
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(part) for part in problem["loc"]) or "entry"
                message = problem["msg"].removeprefix("Value error, ")
                raise CatalogError(f"{origin}: [{kind}.{name}] {where}: {message}") from exc
        tables[kind] = entries
    return tables


def folder_family(folder: Path, model: str) -> Family:
    """A diffusers folder's family from its JSON configs (no weights read)."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        pipeline = str(index.get("_class_name", ""))
        if "XL" in pipeline:
            return "sdxl"
        if pipeline.startswith("Flux"):
            return "flux"
        if pipeline.startswith("StableDiffusion3"):
            return "sd3"
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
    if any("double_blocks." in key for key in keys):
        return "flux"
    if any("joint_blocks." in key for key in keys):
        return "sd3"
    if any(key.startswith("cond_stage_model.model.") for key in keys):
        return "sd2"
    return "sd1"
