"""Style/character references and ControlNet as a member asks for them: options → request fields.

``/imagine`` and ``muralist imagine`` take a style reference (``sref``, Midjourney's ``--sref``), a
character reference (``cref``) and a ControlNet picture (``control``) with its preprocessor and
scale in one short text (``control_mode``: ``canny``, ``lineart``, ``canny:0.7``). Reference
weights come from the CLI's ``--sref-weight``/``--cref-weight`` or the member's ``/preferences``
(Discord's 25-option limit leaves no room for them on ``/imagine``), else the defaults of
``generation.requests``. Everything is checked here, before the job is queued: the model's family
must have an IP-Adapter or a ControlNet for the mode in the catalog, and each error names the
option and what is allowed.
"""

from __future__ import annotations

from typing import Any, Protocol

from generation.catalog import Catalog, ModelSpec
from generation.errors import InvalidRequest
from generation.requests import (
    DEFAULT_CONTROL_SCALE,
    DEFAULT_REFERENCE_WEIGHTS,
    MAX_CONTROL_SCALE,
    ControlImage,
    ControlMode,
    ReferenceImage,
)

CONTROL_MODES: tuple[ControlMode, ...] = ("canny", "lineart")
CONTROL_MODE_ALIASES: dict[str, ControlMode] = {"scribble": "lineart", "edges": "canny"}
CONTROL_MODE_HELP = (
    f"{' or '.join(CONTROL_MODES)}, optionally with a scale 0..{MAX_CONTROL_SCALE:g} "
    "(e.g. canny:0.7)"
)


class Picture(Protocol):
    """A checked input picture (``studio.image_inputs.InputPicture``): normalised PNG + hash."""

    @property
    def png(self) -> bytes: ...

    @property
    def sha256(self) -> str: ...


def parse_control_mode(text: str | None) -> tuple[ControlMode, float]:
    """``canny``, ``lineart`` (``scribble``), each optionally ``:SCALE``; None: canny at 1."""
    if text is None or not text.strip():
        return "canny", DEFAULT_CONTROL_SCALE
    name, _, scale_text = text.strip().casefold().partition(":")
    mode = CONTROL_MODE_ALIASES.get(name.strip(), name.strip())
    if mode not in CONTROL_MODES:
        raise InvalidRequest("control_mode", f"unknown mode {name!r}; use {CONTROL_MODE_HELP}")
    scale = DEFAULT_CONTROL_SCALE
    if scale_text.strip():
        try:
            scale = float(scale_text)
        except ValueError:
            scale = -1.0
        if not 0.0 <= scale <= MAX_CONTROL_SCALE:  # also nan
            raise InvalidRequest(
                "control_mode",
                f"the scale {scale_text.strip()!r} is not in 0..{MAX_CONTROL_SCALE:g}",
            )
    return mode, scale  # type: ignore[return-value]


def guide_fields(
    catalog: Catalog,
    spec: ModelSpec,
    *,
    sref: Picture | None = None,
    cref: Picture | None = None,
    control: Picture | None = None,
    control_mode: str | None = None,
    sref_weight: float | None = None,
    cref_weight: float | None = None,
) -> dict[str, Any]:
    """The request's ``references`` and ``control`` for these options on ``spec``'s model."""
    if control is None and control_mode is not None and control_mode.strip():
        raise InvalidRequest("control_mode", "attach a picture as `control` to guide with it")
    references = []
    for kind, picture, weight in (("style", sref, sref_weight), ("character", cref, cref_weight)):
        if picture is None:
            continue
        catalog.ip_adapter_for(spec, kind)  # type: ignore[arg-type]  # refused on sref/cref
        references.append(
            ReferenceImage(
                kind=kind,  # type: ignore[arg-type]
                png=picture.png,
                sha256=picture.sha256,
                weight=DEFAULT_REFERENCE_WEIGHTS[kind] if weight is None else weight,
            )
        )
    fields: dict[str, Any] = {"references": references}
    if control is not None:
        mode, scale = parse_control_mode(control_mode)
        catalog.controlnet_for(spec, mode)  # refused on control_mode
        fields["control"] = ControlImage(
            mode=mode, png=control.png, sha256=control.sha256, scale=scale
        )
    return fields


def control_mode_choices() -> list[str]:
    """Autocomplete values for ``control_mode``."""
    return [*CONTROL_MODES, *(f"{mode}:{scale}" for mode in CONTROL_MODES for scale in (0.5, 0.8))]
