"""Built-in adapters for the tiny models: LoRAs made with ``peft`` and textual-inversion embeddings.

Each is built in code from a fixed seed and saved as the same kind of file people download: a
LoRA as diffusers' ``save_lora_weights`` writes it (peft's state dict of the UNet or transformer),
an embedding as A1111 writes it (``emb_params``; SDXL's with ``clip_l`` and ``clip_g``). The
engine then loads them through ``load_lora_weights`` and ``load_textual_inversion`` like any file
in the catalog. LoRA weights are random (``init_lora_weights=False``), so each weight visibly
changes the picture and weight 0 leaves it exactly as without.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generation.tiny import BUILD_VERSION, ensure_tiny_model
from generation.tiny_flow import FLOW_BUILDERS

LORA_FILE = "lora.safetensors"
EMBEDDING_FILE = "embedding.safetensors"
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


@dataclass(frozen=True)
class TinyAdapter:
    kind: str  # "lora" | "embedding"
    base: str  # the built-in model it is made for
    seed: int

    @property
    def filename(self) -> str:
        return LORA_FILE if self.kind == "lora" else EMBEDDING_FILE


ADAPTERS: dict[str, TinyAdapter] = {
    "tiny-lora": TinyAdapter("lora", "tiny", 1),
    "tiny-lcm-lora": TinyAdapter("lora", "tiny", 2),
    "tiny-sd2-lora": TinyAdapter("lora", "tiny-sd2", 1),
    "tiny-xl-lora": TinyAdapter("lora", "tiny-xl", 1),
    "tiny-xl-lightning-lora": TinyAdapter("lora", "tiny-xl", 3),
    "tiny-flux-lora": TinyAdapter("lora", "tiny-flux", 1),
    "tiny-sd3-lora": TinyAdapter("lora", "tiny-sd3", 1),
    "tiny-embedding": TinyAdapter("embedding", "tiny", 1),
    "tiny-xl-embedding": TinyAdapter("embedding", "tiny-xl", 1),
}


def adapter_file(name: str, cache_dir: Path) -> Path:
    """Where built-in adapter ``name`` lives (or will be built) under ``cache_dir``."""
    return Path(cache_dir) / f"{name}-v{BUILD_VERSION}" / ADAPTERS[name].filename


def ensure_adapter(name: str, cache_dir: Path) -> Path:
    """The file of built-in adapter ``name``, built atomically on first use."""
    target = adapter_file(name, cache_dir)
    if target.is_file():
        return target
    adapter = ADAPTERS[name]
    builder = FLOW_BUILDERS.get(adapter.base)
    base = ensure_tiny_model(adapter.base, cache_dir, builder)
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent.parent))
    try:
        make: Callable[[TinyAdapter, Path, Path], None] = (
            _make_lora if adapter.kind == "lora" else _make_embedding
        )
        make(adapter, base, staging / adapter.filename)
        try:
            os.replace(staging, target.parent)
        except OSError:  # another process finished first
            if not target.is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _make_lora(adapter: TinyAdapter, base: Path, out: Path) -> None:
    """A rank-4 LoRA on the attention projections of the base model's UNet or transformer."""
    import diffusers
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    index = (base / "model_index.json").read_text(encoding="utf-8")
    if "unet" in index:
        subfolder, key = "unet", "unet_lora_layers"
        denoiser_cls = diffusers.UNet2DConditionModel
        pipeline = "StableDiffusionXLPipeline" if "XL" in index else "StableDiffusionPipeline"
    else:
        subfolder, key = "transformer", "transformer_lora_layers"
        is_flux = "FluxPipeline" in index
        denoiser_cls = (
            diffusers.FluxTransformer2DModel if is_flux else diffusers.SD3Transformer2DModel
        )
        pipeline = "FluxPipeline" if is_flux else "StableDiffusion3Pipeline"
    denoiser = denoiser_cls.from_pretrained(base / subfolder)
    torch.manual_seed(adapter.seed)
    config = LoraConfig(r=4, lora_alpha=4, target_modules=LORA_TARGETS, init_lora_weights=False)
    denoiser.add_adapter(config)
    layers = get_peft_model_state_dict(denoiser)
    getattr(diffusers, pipeline).save_lora_weights(
        out.parent, **{key: layers}, weight_name=out.name, safe_serialization=True
    )


def _make_embedding(adapter: TinyAdapter, base: Path, out: Path) -> None:
    """Two vectors per text encoder, at the scale of the encoder's own token embeddings."""
    import json

    import torch
    from safetensors.torch import save_file

    generator = torch.Generator("cpu").manual_seed(adapter.seed)
    tensors = {}
    encoders = [("emb_params", "text_encoder")]
    if (base / "text_encoder_2").is_dir():
        encoders = [("clip_l", "text_encoder"), ("clip_g", "text_encoder_2")]
    for key, folder in encoders:
        config = json.loads((base / folder / "config.json").read_text(encoding="utf-8"))
        tensors[key] = torch.randn(2, config["hidden_size"], generator=generator)
    save_file(tensors, str(out))
