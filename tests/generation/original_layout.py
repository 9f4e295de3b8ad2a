"""Test-only: write a diffusers pipeline as one original-layout (CompVis/A1111) checkpoint.

diffusers converts original → diffusers only (``loaders/single_file_utils.py``:
``convert_ldm_unet_checkpoint``, ``convert_ldm_vae_checkpoint``, ``convert_ldm_clip_checkpoint``,
``convert_open_clip_checkpoint``); this is their inverse, so a test can make a single-file
checkpoint of the tiny model and load it back through ``from_single_file``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD_CLIP_PREFIX = "cond_stage_model.transformer."
SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."

_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _rename(rest: str, table: dict[str, str]) -> str:
    """Rename the leading module of ``rest`` by ``table`` (no entry is a prefix of another)."""
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def unet_to_original(state: dict[str, Any], config: Any) -> dict[str, Any]:
    """Diffusers UNet keys → ``model.diffusion_model.*`` (input/middle/output blocks)."""
    per_level = config["layers_per_block"] + 1
    out: dict[str, Any] = {}
    for key, tensor in state.items():
        module, _, leaf = key.rpartition(".")
        top = _UNET_TOP.get(module)
        if top is not None:
            out[f"{UNET_PREFIX}{top}.{leaf}"] = tensor
            continue
        if match := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
            level, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
            block = f"input_blocks.{level * per_level + layer + 1}"
            name = f"{block}.0.{_rename(rest, _UNET_RESNET)}" if kind == "resnets" else None
            name = name or f"{block}.1.{rest}"
        elif match := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
            name = f"input_blocks.{(int(match[1]) + 1) * per_level}.0.op.{match[2]}"
        elif match := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
            name = f"middle_block.{2 * int(match[1])}.{_rename(match[2], _UNET_RESNET)}"
        elif match := re.match(r"mid_block\.attentions\.0\.(.*)", key):
            name = f"middle_block.1.{match[1]}"
        elif match := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
            level, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
            block = f"output_blocks.{level * per_level + layer}"
            name = f"{block}.0.{_rename(rest, _UNET_RESNET)}" if kind == "resnets" else None
            name = name or f"{block}.1.{rest}"
        elif match := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
            level = int(match[1])
            has_attention = "CrossAttn" in config["up_block_types"][level]
            block = level * per_level + per_level - 1
            name = f"output_blocks.{block}.{2 if has_attention else 1}.conv.{match[2]}"
        else:
            raise KeyError(f"no original name for UNet key {key!r}")
        out[UNET_PREFIX + name] = tensor
    return out


def vae_to_original(state: dict[str, Any], config: Any) -> dict[str, Any]:
    """Diffusers VAE keys → ``first_stage_model.*`` (down/up levels numbered as in LDM)."""
    levels = len(config["up_block_types"])
    out: dict[str, Any] = {}
    for key, tensor in state.items():
        side, _, rest = key.partition(".")
        if side not in ("encoder", "decoder"):  # quant_conv, post_quant_conv keep their names
            out[VAE_PREFIX + key] = tensor
            continue
        if match := re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
            name = f"down.{match[1]}.block.{match[2]}.{match[3]}"
        elif match := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.(.*)", rest):
            name = f"down.{match[1]}.downsample.{match[2]}"
        elif match := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
            name = f"up.{levels - 1 - int(match[1])}.block.{match[2]}.{match[3]}"
        elif match := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", rest):
            name = f"up.{levels - 1 - int(match[1])}.upsample.{match[2]}"
        elif match := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest):
            name = f"mid.block_{int(match[1]) + 1}.{match[2]}"
        elif match := re.match(r"mid_block\.attentions\.0\.(.*)", rest):
            name = "mid.attn_1." + _rename(match[1], _VAE_ATTENTION)
            if tensor.ndim == 2:  # the original attention uses 1×1 convolutions
                tensor = tensor[:, :, None, None]
        else:  # conv_in, conv_out, conv_norm_out
            name = _rename(rest, {"conv_norm_out": "norm_out"})
        name = name.replace("conv_shortcut", "nin_shortcut")
        out[f"{VAE_PREFIX}{side}.{name}"] = tensor
    return out


def open_clip_to_original(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A ``CLIPTextModelWithProjection`` → OpenCLIP names (fused q/k/v, transposed projection)."""
    import torch

    out: dict[str, Any] = {}
    fused: dict[str, dict[str, Any]] = {}
    simple = {
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    for key, tensor in state.items():
        if key in simple:
            out[prefix + simple[key]] = tensor
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = tensor.T.contiguous()
        elif match := re.match(r"text_model\.encoder\.layers\.(\d+)\.(.*)", key):
            layer, rest = match[1], match[2]
            base = f"{prefix}transformer.resblocks.{layer}."
            if qkv := re.match(r"self_attn\.([qkv])_proj\.(weight|bias)", rest):
                fused.setdefault(f"{base}attn.in_proj_{qkv[2]}", {})[qkv[1]] = tensor
                continue
            rest = (
                rest.replace("layer_norm1", "ln_1")
                .replace("layer_norm2", "ln_2")
                .replace("mlp.fc1", "mlp.c_fc")
                .replace("mlp.fc2", "mlp.c_proj")
                .replace("self_attn.", "attn.")
            )
            out[base + rest] = tensor
        elif key != "text_model.embeddings.position_ids":
            raise KeyError(f"no original name for text encoder key {key!r}")
    for name, parts in fused.items():
        out[name] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def write_original_checkpoint(pipe: Any, path: Path) -> Path:
    """Save ``pipe`` (SD 1.x or SDXL layout) as one original-layout ``.safetensors`` file."""
    from safetensors.torch import save_file

    tensors = unet_to_original(pipe.unet.state_dict(), pipe.unet.config)
    tensors.update(vae_to_original(pipe.vae.state_dict(), pipe.vae.config))
    # transformers 5 names a CLIPTextModel's tensors without the ``text_model.`` the
    # original layout (and CLIPTextModelWithProjection) has.
    encoder = {
        key if key.startswith("text_model.") else f"text_model.{key}": value
        for key, value in pipe.text_encoder.state_dict().items()
    }
    if getattr(pipe, "text_encoder_2", None) is None:
        tensors.update({SD_CLIP_PREFIX + key: value for key, value in encoder.items()})
    else:
        tensors.update({SDXL_CLIP_PREFIX + key: value for key, value in encoder.items()})
        tensors.update(
            open_clip_to_original(pipe.text_encoder_2.state_dict(), SDXL_OPEN_CLIP_PREFIX)
        )
    save_file({key: value.contiguous().clone() for key, value in tensors.items()}, str(path))
    return path
