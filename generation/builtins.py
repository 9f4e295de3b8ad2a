"""Every model and adapter built in code, by name: ``tiny``, ``tiny-xl`` (``generation.tiny``),
``tiny-flux``, ``tiny-flux-schnell``, ``tiny-sd3`` (``generation.tiny_flow``), the inpainting
checkpoint ``tiny-inpaint`` (``generation.tiny_inpaint``) and their LoRAs and
embeddings (``generation.tiny_adapters``). The catalog validates names here and the loader builds
through here, so a new stand-in is one entry."""

from __future__ import annotations

from pathlib import Path

from generation import tiny
from generation.tiny_adapters import ADAPTERS, adapter_file, ensure_adapter
from generation.tiny_flow import FLOW_BUILDERS
from generation.tiny_inpaint import INPAINT_BUILDERS

BUILDERS = {**tiny.BUILDERS, **FLOW_BUILDERS, **INPAINT_BUILDERS}

__all__ = [
    "ADAPTERS",
    "BUILDERS",
    "adapter_file",
    "builtin_folder",
    "ensure_adapter",
    "ensure_builtin",
]


def builtin_folder(name: str, cache_dir: Path) -> Path:
    return tiny.tiny_model_folder(name, cache_dir)


def ensure_builtin(name: str, cache_dir: Path) -> Path:
    """The folder of built-in model ``name``, built on first use."""
    return tiny.ensure_tiny_model(name, cache_dir, BUILDERS[name])
