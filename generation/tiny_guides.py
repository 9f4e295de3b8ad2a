"""Built-in IP-Adapters and ControlNets for the tiny models, laid out as the real ones are.

A tiny IP-Adapter is a folder like ``h94/IP-Adapter``: ``models/image_encoder`` (a tiny
``CLIPVisionModelWithProjection``) beside two weight files in the original IP-Adapter format
(``image_proj.proj``/``image_proj.norm`` and ``ip_adapter.{n}.to_k_ip``/``to_v_ip`` for every
cross-attention layer), one for style and one for character references. The engine loads it with
diffusers' own ``load_ip_adapter(folder, subfolder="models", weight_name=..., image_encoder_folder=
"image_encoder")``, exactly as it would load h94's.

A tiny ControlNet is ``ControlNetModel.from_unet`` of the base model's UNet, saved with
``save_pretrained`` and loaded with ``ControlNetModel.from_pretrained``. ``from_unet`` leaves the
zero convolutions at zero (a fresh ControlNet changes nothing), so they get small seeded random
weights here: then the control picture visibly steers the tiny model, and scale 0 still adds
exact zeros.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from generation.tiny import BUILD_VERSION, ensure_tiny_model

IP_SUBFOLDER = "models"
IP_ENCODER = "image_encoder"
IP_STYLE_FILE = "ip-adapter_tiny.safetensors"
IP_CHARACTER_FILE = "ip-adapter-character_tiny.safetensors"
IMAGE_ENCODER_SIDE = 32
IMAGE_EMBED_DIM = 32


@dataclass(frozen=True)
class TinyGuide:
    kind: Literal["ip_adapter", "controlnet"]
    base: str  # the built-in model it is made for
    seed: int


GUIDES: dict[str, TinyGuide] = {
    "tiny-ip-adapter": TinyGuide("ip_adapter", "tiny", 11),
    "tiny-xl-ip-adapter": TinyGuide("ip_adapter", "tiny-xl", 12),
    "tiny-canny": TinyGuide("controlnet", "tiny", 21),
    "tiny-lineart": TinyGuide("controlnet", "tiny", 22),
    "tiny-sd2-canny": TinyGuide("controlnet", "tiny-sd2", 23),
    "tiny-sd2-lineart": TinyGuide("controlnet", "tiny-sd2", 24),
    "tiny-xl-canny": TinyGuide("controlnet", "tiny-xl", 25),
    "tiny-xl-lineart": TinyGuide("controlnet", "tiny-xl", 26),
}


def guide_folder(name: str, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{name}-v{BUILD_VERSION}"


def ensure_guide(name: str, cache_dir: Path) -> Path:
    """The folder of built-in guide ``name``, built atomically on first use."""
    target = guide_folder(name, cache_dir)
    marker = "config.json" if GUIDES[name].kind == "controlnet" else IP_SUBFOLDER
    if (target / marker).exists():
        return target
    guide = GUIDES[name]
    base = ensure_tiny_model(guide.base, cache_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        if guide.kind == "controlnet":
            _make_controlnet(guide, base, staging)
        else:
            _make_ip_adapter(guide, base, staging)
        try:
            os.replace(staging, target)
        except OSError:  # another process finished first
            if not (target / marker).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _make_controlnet(guide: TinyGuide, base: Path, out: Path) -> None:
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    controlnet = ControlNetModel.from_unet(
        unet, conditioning_embedding_out_channels=(8, 16, 32, 32)
    )
    generator = torch.Generator("cpu").manual_seed(guide.seed)
    with torch.no_grad():
        zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
        for conv in [*zero_convs, controlnet.controlnet_cond_embedding.conv_out]:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.3)
    controlnet.save_pretrained(out, safe_serialization=True)


def _make_ip_adapter(guide: TinyGuide, base: Path, out: Path) -> None:
    """The image encoder and the style and character weight files for ``base``'s UNet."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    models = out / IP_SUBFOLDER
    torch.manual_seed(guide.seed)
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=37,
            projection_dim=IMAGE_EMBED_DIM,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=IMAGE_ENCODER_SIDE,
            patch_size=4,
            num_channels=3,
        )
    )
    encoder.save_pretrained(models / IP_ENCODER, safe_serialization=True)
    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    generator = torch.Generator("cpu").manual_seed(guide.seed)
    for number, filename in enumerate((IP_STYLE_FILE, IP_CHARACTER_FILE)):
        generator.manual_seed(guide.seed * 10 + number)
        save_file(_ip_adapter_tensors(unet, generator), str(models / filename))


def _ip_adapter_tensors(unet: Any, generator: Any) -> dict[str, Any]:
    """The original IP-Adapter layout: a 4-token image projection and, for each cross-attention
    processor in ``attn_processors`` order, ``{1, 3, 5, …}.to_k_ip``/``to_v_ip``."""
    import torch

    cross = unet.config.cross_attention_dim
    channels = list(unet.config.block_out_channels)

    def rand(*shape: int, scale: float) -> Any:
        return torch.randn(*shape, generator=generator) * scale

    tensors = {
        "image_proj.proj.weight": rand(4 * cross, IMAGE_EMBED_DIM, scale=0.2),
        "image_proj.proj.bias": rand(4 * cross, scale=0.1),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        block = int(name.split(".")[1]) if not name.startswith("mid_block") else -1
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[block]
        else:
            hidden = channels[block]
        tensors[f"ip_adapter.{key_id}.to_k_ip.weight"] = rand(hidden, cross, scale=0.5)
        tensors[f"ip_adapter.{key_id}.to_v_ip.weight"] = rand(hidden, cross, scale=0.5)
        key_id += 2
    return tensors
