"""Checkpoint merging: a weighted sum of two models of one family, written as a diffusers folder.

``merged = (1 - alpha) · A + alpha · B`` for every tensor of the UNet and the text encoder(s)
(A1111's "weighted sum"); the VAE, tokenizers, scheduler and safety checker come from A. Both
models load on the CPU in fp32 whatever the engine's device, so the sum is exact and a GPU is not
needed. The folder is written under a temporary name beside ``out`` and renamed when complete:
an interrupted merge leaves nothing behind.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.catalog import Family
from generation.config import EngineConfig
from generation.errors import InvalidRequest
from generation.loading import PipelineLoader


@dataclass(frozen=True)
class MergeResult:
    folder: Path
    family: Family
    components: tuple[str, ...]


def merge_models(config: EngineConfig, a: str, b: str, alpha: float, out: Path) -> MergeResult:
    """Merge models ``a`` and ``b`` (catalog names or paths) into the new folder ``out``."""
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise InvalidRequest("alpha", f"{alpha} is outside 0..1 (0 keeps A, 1 gives B)")
    out = Path(out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise InvalidRequest("out", f"{out} already exists; choose a new folder")
    cpu = config.model_copy(
        update={
            "device": "cpu",
            "dtype": "fp32",
            "pipeline_cache_size": 2,
            "attention_slicing": False,
            "vae_slicing": False,
            "vae_tiling": False,
            "cpu_offload": "none",
            "channels_last": False,
            "compile_unet": False,
        }
    )
    loader = PipelineLoader(cpu)
    for model in (a, b):  # an unknown second model fails before the first one loads
        loader.catalog.resolve(model)
    first, second = loader.get(a), loader.get(b)
    if first.family != second.family:
        raise InvalidRequest(
            "model",
            f"cannot merge {a} ({first.family}) with {b} ({second.family}): "
            "only models of the same family (sd1, sd2 or sdxl) can be merged",
        )
    names = tuple(
        name
        for name in ("unet", "text_encoder", "text_encoder_2")
        if getattr(first.pipe, name, None) is not None
    )
    merged = {
        name: weighted_sum(
            getattr(first.pipe, name).state_dict(),
            getattr(second.pipe, name).state_dict(),
            alpha,
            name,
        )
        for name in names
    }
    pipe = first.pipe
    for name, state in merged.items():
        getattr(pipe, name).load_state_dict(state)
    if first.safety_checker is not None:  # keep A's checker in the folder, as A had it
        pipe.safety_checker = first.safety_checker
    _save_atomically(pipe, out)
    return MergeResult(folder=out, family=first.family, components=names)


def weighted_sum(
    a: dict[str, Any], b: dict[str, Any], alpha: float, component: str
) -> dict[str, Any]:
    """``(1 - alpha)·a + alpha·b`` for floating tensors; others (ids, counters) are a's.

    Written so that alpha 0 gives a and alpha 1 gives b exactly.
    """
    differing = sorted(
        key
        for key in a.keys() | b.keys()
        if key not in a or key not in b or a[key].shape != b[key].shape
    )
    if differing:
        raise InvalidRequest(
            "model",
            f"the two {component}s differ in {len(differing)} tensors (e.g. {differing[0]}): "
            "only fine-tunes of the same base model can be merged",
        )
    return {
        key: (1.0 - alpha) * value + alpha * b[key] if value.is_floating_point() else value
        for key, value in a.items()
    }


def _save_atomically(pipe: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        pipe.save_pretrained(staging, safe_serialization=True)
        os.replace(staging, out)  # an empty ``out`` is replaced, a non-empty one was refused
    finally:
        shutil.rmtree(staging, ignore_errors=True)
