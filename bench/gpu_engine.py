"""Denoising speed of the full-size SD 1.5 architecture on a GPU, each optimisation off and on.

    python bench/gpu_engine.py [--quick] [--steps 30] [--batch 1] [--no-compile]

Builds SD 1.5's UNet, VAE and CLIP text encoder at their real configs with random weights (the
same compute as the real model, no download), in fp16 on CUDA, and reports UNet iterations per
second at 512×512 for: the baseline (PyTorch SDPA attention), classic attention instead of SDPA,
channels_last, cuDNN benchmark, torch.compile of the UNet, and all of them together. Classifier-
free guidance is on, as in real use (each iteration runs the UNet on a batch of 2 × --batch).

On a machine without CUDA it prints why it cannot run and exits 0. The last line of output is one
JSON object with the figures. ``--quick`` runs 10 steps and skips torch.compile (which takes a
minute or more to compile).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script from a checkout: the repository, not bench/ (whose queue.py would shadow the
# standard library's queue module), goes first on the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from generation.tiny import clip_tokenizer  # noqa: E402

# Stable Diffusion 1.5's published component configs (runwayml/stable-diffusion-v1-5).
UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
TEXT = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}


def build_pipeline(device: str, dtype: Any) -> Any:
    """SD 1.5 at full size with random weights, created directly on ``device``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DPMSolverMultistepScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**UNET)
        vae = AutoencoderKL(**VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**TEXT))
    tokenizer = clip_tokenizer()
    scheduler = DPMSolverMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def iterations_per_second(pipe: Any, steps: int, batch: int, size: int, repeats: int) -> float:
    """UNet iterations per second of a full denoising loop (prompt encoded beforehand)."""
    import torch

    embeds, negative = pipe.encode_prompt("a photo of a cat", pipe.device, batch, True)

    def run() -> float:
        _synchronize()
        started = time.perf_counter()
        pipe(
            prompt_embeds=embeds, negative_prompt_embeds=negative, num_inference_steps=steps,
            width=size, height=size, output_type="latent",
            generator=torch.Generator("cpu").manual_seed(0),
        )  # fmt: skip
        _synchronize()
        return steps / (time.perf_counter() - started)

    run()  # warm-up: kernels chosen, compiled graphs built
    return max(run() for _ in range(repeats))


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def configure(pipe: Any, unet: Any, *, sdpa: bool, channels_last: bool, cudnn: bool) -> None:
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    unet.set_attn_processor(AttnProcessor2_0() if sdpa else AttnProcessor())
    unet.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    torch.backends.cudnn.benchmark = cudnn
    pipe.unet = unet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 steps, no torch.compile")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch", type=int, default=1, help="images per call")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (best)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode")
    parser.add_argument("--device", default="cuda", help="cpu only for a smoke test")
    args = parser.parse_args()
    steps = args.steps or (10 if args.quick else 30)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench/gpu_engine.py needs a CUDA GPU (torch.cuda.is_available() is False here);")
        print("run it on a machine with an NVIDIA GPU and a CUDA build of torch.")
        print(json.dumps({"skipped": "no CUDA device", "torch": torch.__version__}))
        return 0
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    started = time.perf_counter()
    pipe = build_pipeline(args.device, dtype)
    built = time.perf_counter() - started
    unet = pipe.unet
    params = sum(p.numel() for p in unet.parameters()) / 1e6
    device_name = (
        torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    )
    print(
        f"SD 1.5 architecture (UNet {params:.0f}M parameters) on {device_name}, {dtype}, "
        f"{args.size}², {steps} steps, batch {args.batch} (×2 for CFG); built in {built:.1f} s"
    )

    variants: list[tuple[str, dict[str, bool], bool]] = [
        ("baseline (SDPA)", {"sdpa": True, "channels_last": False, "cudnn": False}, False),
        ("classic attention", {"sdpa": False, "channels_last": False, "cudnn": False}, False),
        ("channels_last", {"sdpa": True, "channels_last": True, "cudnn": False}, False),
        ("cudnn benchmark", {"sdpa": True, "channels_last": False, "cudnn": True}, False),
    ]
    if not (args.quick or args.no_compile):
        variants += [
            ("torch.compile", {"sdpa": True, "channels_last": False, "cudnn": False}, True),
            ("all on", {"sdpa": True, "channels_last": True, "cudnn": True}, True),
        ]
    results: dict[str, float | str] = {}
    baseline: float | None = None
    for name, options, compiled in variants:
        configure(pipe, unet, **options)
        if compiled:
            torch._dynamo.reset()
            pipe.unet = torch.compile(unet, mode=args.compile_mode, fullgraph=True)
        try:
            speed = iterations_per_second(pipe, steps, args.batch, args.size, args.repeats)
        except Exception as exc:  # report and go on: one failing option must not hide the rest
            results[name] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            print(f"  {name:<20} {results[name]}")
            continue
        results[name] = round(speed, 3)
        relative = f"  ×{speed / baseline:.2f} vs baseline" if baseline else ""
        if not compiled and options == variants[0][1]:
            baseline = speed
        print(f"  {name:<20} {speed:7.3f} it/s{relative}")
    pipe.unet = unet
    print(
        json.dumps(
            {
                "device": device_name,
                "dtype": str(dtype),
                "size": args.size,
                "steps": steps,
                "batch": args.batch,
                "torch": torch.__version__,
                "it_per_s": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
