"""Catalog entries for image guides: ``[ip_adapters.NAME]`` and ``[controlnets.NAME]``.

An IP-Adapter entry names a repository or folder laid out like ``h94/IP-Adapter``: the weight
files for style and character references inside ``subfolder`` and the CLIP image encoder they
share, plus InstantStyle's per-block scales (``style_blocks``) that make a reference set the style
only (the blocks differ per UNet layout, so they are data). A ControlNet entry names a diffusers
ControlNet (``ControlNetModel.from_pretrained``) and the preprocessor its condition comes from.

Which entry a model uses (``Catalog.ip_adapter_for``/``controlnet_for``): a built-in model uses
the built-ins made for its weights; any other model the last entry of its family that is not
built in (a user catalog's entry therefore wins over the shipped one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generation.requests import ControlMode
from generation.tiny_guides import GUIDES, ensure_guide
from prompting.negatives import ModelFamily

GuideSource = Literal["builtin", "hub", "folder"]
_SOURCES: tuple[GuideSource, ...] = ("builtin", "hub", "folder")


class GuideSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    builtin: str | None = None
    hub: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    folder: Path | None = None
    family: ModelFamily
    description: str = ""

    @field_validator("builtin")
    @classmethod
    def _known_builtin(cls, value: str | None) -> str | None:
        if value is not None and value not in GUIDES:
            raise ValueError(f"unknown built-in guide; use one of {', '.join(sorted(GUIDES))}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> GuideSpec:
        given = [kind for kind in _SOURCES if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                f"set exactly one source of builtin, hub, folder (got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def base(self) -> str | None:
        """The built-in model a built-in guide was made for (None for hub and folder entries)."""
        return GUIDES[self.builtin].base if self.builtin is not None else None

    def location(self, cache_dir: Path) -> str:
        """What ``from_pretrained``/``load_ip_adapter`` take: a folder, or the hub id."""
        if self.builtin is not None:
            return str(ensure_guide(self.builtin, cache_dir))
        return str(self.folder) if self.folder is not None else str(self.hub)

    def fits(self, model_builtin: str | None) -> bool:
        """Whether this entry goes with a model built in as ``model_builtin`` (None: not built
        in): built-in guides only with the weights they were made for."""
        return self.base == model_builtin


class IpAdapterSpec(GuideSpec):
    subfolder: str = Field(default="models", max_length=200)
    style: str = Field(min_length=1, max_length=200, description="Weight file for style refs.")
    character: str = Field(
        min_length=1, max_length=200, description="Weight file for character references."
    )
    image_encoder: str = Field(default="image_encoder", max_length=200)
    style_blocks: dict[str, dict[str, list[float]]] = Field(
        description="InstantStyle: the per-block scales at weight 1 for a style reference."
    )

    @field_validator("style_blocks")
    @classmethod
    def _blocks(cls, value: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
        if not value or not set(value) <= {"down", "up"}:
            raise ValueError('use {up = {block_0 = [0.0, 1.0, 0.0]}} (keys "down" and "up")')
        return value


class ControlNetSpec(GuideSpec):
    mode: ControlMode
