"""The built-in models ``tiny`` (SD 1.x layout), ``tiny-sd2`` (SD 2.x layout: v-prediction,
linear projections, OpenCLIP's ``!`` padding) and ``tiny-xl`` (SDXL layout).

Real diffusers classes with tiny configs and deterministic random weights, built in code in a
second, written with ``save_pretrained`` and then loaded through the same ``from_pretrained`` path
as any real model, so the whole product runs and is tested offline. Their pictures are noise-like:
the weights are random. The VAE has the real scale factor of 8, so a 512×512 request works on
64×64 latents and stays fast on a CPU.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

TINY_SEED = 0
BUILD_VERSION = "1"  # bump when the tiny configs change, so caches rebuild
CLIP_VOCAB_SIZE = 49408
_VOCAB_FILE = "open_clip/bpe_simple_vocab_16e6.txt.gz"


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte → printable character table (the BPE's alphabet)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def _clip_merges() -> list[str] | None:
    """The real CLIP merges from open-clip-torch's wheel, when that package is installed.

    Read as a data file only: importing open_clip would need torchvision, which must never be
    installed beside the CPU torch.
    """
    try:
        path = Path(
            str(importlib.metadata.distribution("open-clip-torch").locate_file(_VOCAB_FILE))
        )
    except importlib.metadata.PackageNotFoundError:
        return None
    if not path.is_file():
        return None
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    return lines[1 : 49152 - 256 - 2 + 1]


def write_clip_tokenizer(folder: Path, pad_token: str = "<|endoftext|>") -> bool:
    """Write a CLIP tokenizer; True when it has the real vocabulary, False for the fallback.

    The fallback knows single characters only (no merges): every word still tokenizes, just into
    more tokens than with the real vocabulary. ``pad_token``: SD 2.x's OpenCLIP pads with ``!``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    alphabet = list(bytes_to_unicode().values())
    vocab = alphabet + [char + "</w>" for char in alphabet]
    merges = _clip_merges()
    if merges:
        vocab += ["".join(merge.split()) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges or []) + "\n")
    config = {
        "model_max_length": 77,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
        "tokenizer_class": "CLIPTokenizer",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "special_tokens_map.json").write_text(
        json.dumps({k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")})
    )
    return merges is not None


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> Any:
    """A ``CLIPTokenizer`` as ``write_clip_tokenizer`` writes it (via a temporary folder)."""
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as folder:
        write_clip_tokenizer(Path(folder), pad_token)
        return CLIPTokenizer.from_pretrained(folder)


def _text_encoder(with_projection: bool) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        pad_token_id=1,
        vocab_size=CLIP_VOCAB_SIZE,
        projection_dim=32,
        hidden_act="gelu",
    )
    return CLIPTextModelWithProjection(config) if with_projection else CLIPTextModel(config)


def _vae(**changes: Any) -> Any:
    """The tiny VAE with the real scale factor of 8 (``changes``: FLUX's and SD3's 16 latent
    channels and factors)."""
    from diffusers import AutoencoderKL

    config: dict[str, Any] = {
        "block_out_channels": (8, 16, 32, 32),
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "latent_channels": 4,
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "sample_size": 64,
    }
    return AutoencoderKL(**(config | changes))


def _unet(in_channels: int = 4, **family: Any) -> Any:
    """The tiny two-block UNet every built-in shares, seeded, with a family's own settings
    (``in_channels=9``: an inpainting UNet, latents + mask + masked-image latents)."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(TINY_SEED)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=32,
        **family,
    )


def build_tiny_sd(folder: Path, *, unet_in_channels: int = 4) -> None:
    """Build the SD 1.x-layout tiny pipeline and ``save_pretrained`` it into ``folder``; with
    9 UNet input channels, its inpainting twin (``generation.tiny_inpaint``): the same text
    encoder and VAE (same seeds), saved as an inpainting pipeline."""
    import torch
    from diffusers import (
        DPMSolverMultistepScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    unet = _unet(in_channels=unet_in_channels, sample_size=8, cross_attention_dim=32)
    torch.manual_seed(TINY_SEED)
    vae = _vae()
    torch.manual_seed(TINY_SEED)
    text_encoder = _text_encoder(with_projection=False)
    tokenizer = clip_tokenizer()
    scheduler = DPMSolverMultistepScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
    )
    layout = StableDiffusionPipeline if unet_in_channels == 4 else StableDiffusionInpaintPipeline
    pipe = layout(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def build_tiny_sd2(folder: Path) -> None:
    """Build the SD 2.x-layout tiny pipeline into ``folder``: what sets SD 2.x apart from 1.x
    in diffusers' configs (v-prediction, linear projections, per-block head dims, upcast
    attention, ``!`` padding), at tiny sizes."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    unet = _unet(
        sample_size=12,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        upcast_attention=True,
        cross_attention_dim=32,
    )
    torch.manual_seed(TINY_SEED)
    vae = _vae()
    torch.manual_seed(TINY_SEED + 2)
    text_encoder = _text_encoder(with_projection=False)
    scheduler = DDIMScheduler(  # as stabilityai/stable-diffusion-2-1 ships it
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="v_prediction",
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(pad_token="!"),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def build_tiny_sdxl(folder: Path) -> None:
    """Build the SDXL-layout tiny pipeline (two text encoders, pooled embeds) into ``folder``."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    unet = _unet(
        sample_size=16,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
    )
    torch.manual_seed(TINY_SEED)
    vae = _vae()
    torch.manual_seed(TINY_SEED)
    text_encoder = _text_encoder(with_projection=False)
    torch.manual_seed(TINY_SEED + 1)
    text_encoder_2 = _text_encoder(with_projection=True)
    tokenizer = clip_tokenizer()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    pipe = StableDiffusionXLPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        scheduler=scheduler,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


BUILDERS = {"tiny": build_tiny_sd, "tiny-sd2": build_tiny_sd2, "tiny-xl": build_tiny_sdxl}


def tiny_model_folder(name: str, cache_dir: Path) -> Path:
    """Where built-in model ``name`` lives (or will be built) under ``cache_dir``."""
    return Path(cache_dir) / f"{name}-v{BUILD_VERSION}"


def ensure_tiny_model(
    name: str, cache_dir: Path, builder: Callable[[Path], None] | None = None
) -> Path:
    """Return the folder of built-in model ``name``, building it atomically on first use.

    Written to a temporary sibling and renamed, so a crash never leaves a half-written model.
    ``builder`` builds a model of another module (``generation.builtins`` passes them).
    """
    folder = tiny_model_folder(name, cache_dir)
    if (folder / "model_index.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        (builder or BUILDERS[name])(staging)
        try:
            os.replace(staging, folder)
        except OSError:  # another process finished first
            if not (folder / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@lru_cache(maxsize=1)
def has_real_clip_vocabulary() -> bool:
    return _clip_merges() is not None
