"""Denoising speed of full-size architectures on a GPU, each optimisation off and on.

    python bench/gpu_engine.py [--arch sd15|sdxl|flux] [--quick] [--steps 30] [--batch 1]
                               [--no-compile] [--smoke]

Builds the chosen model's denoiser (and VAE) at its real published config with random weights
(the same compute as the real model, no download) on CUDA, and reports denoiser iterations per
second for each variant:

- ``sd15`` (512², fp16) and ``sdxl`` (1024², fp16): the baseline (PyTorch SDPA attention),
  classic attention instead of SDPA, channels_last, cuDNN benchmark, torch.compile of the UNet,
  and all of them together. Classifier-free guidance is on, as in real use (each iteration runs
  the UNet on a batch of 2 × --batch).
- ``flux`` (FLUX.1-dev's 12B transformer, 1024², bf16, guidance-distilled so one pass per step):
  the baseline, fp8 layerwise weight storage (``enable_layerwise_casting``, the engine's
  ``layerwise_casting``), and torch.compile.

The prompt embeddings are random tensors of the real shapes (CLIP/T5 run once per image, not per
step, so they do not change it/s). On a machine without CUDA it prints why it cannot run and exits
0. ``--smoke`` builds the same classes at toy sizes and runs every variant but torch.compile for
two steps on any device (a CPU included): it checks the code, not the speed. The last line of
output is one JSON object with the figures. ``--quick`` runs 10 steps and skips torch.compile
(which takes a minute or more to compile).
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
# SDXL base 1.0's UNet (stabilityai/stable-diffusion-xl-base-1.0, unet/config.json).
SDXL_UNET = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "norm_num_groups": 32,
}
SDXL_VAE = {**VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}
# FLUX.1-dev's transformer and VAE (black-forest-labs/FLUX.1-dev, transformer/ and vae/).
FLUX_TRANSFORMER = {
    "patch_size": 1,
    "in_channels": 64,
    "num_layers": 19,
    "num_single_layers": 38,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "pooled_projection_dim": 768,
    "guidance_embeds": True,
    "axes_dims_rope": (16, 56, 56),
}
FLUX_VAE = {
    **VAE,
    "latent_channels": 16,
    "sample_size": 1024,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
    "scaling_factor": 0.3611,
    "shift_factor": 0.1159,
}
# Shapes of the conditioning each architecture's denoiser takes: (tokens, width, pooled width).
CONDITIONING = {"sd15": (77, 768, 0), "sdxl": (77, 2048, 1280), "flux": (512, 4096, 768)}
NATIVE = {"sd15": 512, "sdxl": 1024, "flux": 1024}

# --smoke: the same classes at toy sizes, to check the code on any device.
_SMOKE = {
    "unet": {"block_out_channels": (32, 64), "layers_per_block": 1, "norm_num_groups": 32},
    "vae": {"block_out_channels": (8, 16), "norm_num_groups": 8, "layers_per_block": 1},
}


def _smoke_configs(arch: str) -> tuple[dict[str, Any], dict[str, Any], tuple[int, int, int]]:
    """(denoiser config, VAE config, conditioning shape) of ``arch`` shrunk for --smoke."""
    vae_base = {"sd15": VAE, "sdxl": SDXL_VAE, "flux": FLUX_VAE}[arch]
    vae = {
        **vae_base,
        **_SMOKE["vae"],
        "down_block_types": ("DownEncoderBlock2D",) * 2,
        "up_block_types": ("UpDecoderBlock2D",) * 2,
    }
    if arch == "flux":
        denoiser = {
            **FLUX_TRANSFORMER,
            "num_layers": 1,
            "num_single_layers": 1,
            "attention_head_dim": 16,
            "num_attention_heads": 2,
            "joint_attention_dim": 32,
            "pooled_projection_dim": 16,
            "axes_dims_rope": (4, 4, 8),
        }
        return denoiser, vae, (16, 32, 16)
    down = ("DownBlock2D", "CrossAttnDownBlock2D")
    up = ("CrossAttnUpBlock2D", "UpBlock2D")
    base = UNET if arch == "sd15" else SDXL_UNET
    denoiser = {
        **base,
        **_SMOKE["unet"],
        "down_block_types": down,
        "up_block_types": up,
        "attention_head_dim": 8,
        "cross_attention_dim": 32,
    }
    if arch == "sdxl":
        denoiser |= {
            "transformer_layers_per_block": (1, 1),
            "addition_time_embed_dim": 8,
            "projection_class_embeddings_input_dim": 6 * 8 + 16,
        }
        return denoiser, vae, (77, 32, 16)
    return denoiser, vae, (77, 32, 0)


def build_pipeline(arch: str, device: str, dtype: Any, smoke: bool = False) -> Any:
    """``arch`` at full size (or toy size with ``smoke``) with random weights, on ``device``.

    No text encoders: the benchmark feeds random embeddings of the real shapes.
    """
    import diffusers
    import torch

    if smoke:
        denoiser_config, vae_config, _ = _smoke_configs(arch)
    else:
        denoiser_config = {"sd15": UNET, "sdxl": SDXL_UNET, "flux": FLUX_TRANSFORMER}[arch]
        vae_config = {"sd15": VAE, "sdxl": SDXL_VAE, "flux": FLUX_VAE}[arch]
    torch.manual_seed(0)
    with torch.device(device):
        if arch == "flux":
            denoiser = diffusers.FluxTransformer2DModel(**denoiser_config).to(dtype)
        else:
            denoiser = diffusers.UNet2DConditionModel(**denoiser_config).to(dtype)
        vae = diffusers.AutoencoderKL(**vae_config).to(dtype)
    if arch == "flux":
        scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True)
        pipe = diffusers.FluxPipeline(
            scheduler=scheduler,
            vae=vae, text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None,
            transformer=denoiser,
        )  # fmt: skip
    elif arch == "sdxl":
        pipe = diffusers.StableDiffusionXLPipeline(
            vae=vae, text_encoder=None, text_encoder_2=None, tokenizer=None, tokenizer_2=None,
            unet=denoiser, scheduler=diffusers.EulerDiscreteScheduler(
                beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                timestep_spacing="leading", steps_offset=1,
            ),
        )  # fmt: skip
    else:
        pipe = diffusers.StableDiffusionPipeline(
            unet=denoiser, vae=vae, text_encoder=None, tokenizer=None,
            scheduler=diffusers.DPMSolverMultistepScheduler(
                beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
            ),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def conditioning(arch: str, batch: int, device: str, dtype: Any, smoke: bool) -> dict[str, Any]:
    """Random prompt embeddings of the architecture's real shapes (and the negative under CFG)."""
    import torch

    tokens, width, pooled = _smoke_configs(arch)[2] if smoke else CONDITIONING[arch]
    generator = torch.Generator("cpu").manual_seed(0)

    def tensor(*shape: int) -> Any:
        return torch.randn(*shape, generator=generator).to(device, dtype)

    if arch == "flux":
        return {
            "prompt_embeds": tensor(batch, tokens, width),
            "pooled_prompt_embeds": tensor(batch, pooled),
            "guidance_scale": 3.5,
        }
    kwargs = {
        "prompt_embeds": tensor(batch, tokens, width),
        "negative_prompt_embeds": tensor(batch, tokens, width),
        "guidance_scale": 7.0,
    }
    if arch == "sdxl":
        kwargs["pooled_prompt_embeds"] = tensor(batch, pooled)
        kwargs["negative_pooled_prompt_embeds"] = tensor(batch, pooled)
    return kwargs


def iterations_per_second(
    pipe: Any, embeds: dict[str, Any], steps: int, size: int, repeats: int
) -> float:
    """Denoiser iterations per second of a full denoising loop (prompt encoded beforehand)."""
    import torch

    def run() -> float:
        _synchronize()
        started = time.perf_counter()
        pipe(
            **embeds, num_inference_steps=steps, width=size, height=size, output_type="latent",
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


Variant = tuple[str, dict[str, bool], bool]


def unet_variants(quick: bool) -> list[Variant]:
    variants: list[Variant] = [
        ("baseline (SDPA)", {"sdpa": True, "channels_last": False, "cudnn": False}, False),
        ("classic attention", {"sdpa": False, "channels_last": False, "cudnn": False}, False),
        ("channels_last", {"sdpa": True, "channels_last": True, "cudnn": False}, False),
        ("cudnn benchmark", {"sdpa": True, "channels_last": False, "cudnn": True}, False),
    ]
    if not quick:
        variants += [
            ("torch.compile", {"sdpa": True, "channels_last": False, "cudnn": False}, True),
            ("all on", {"sdpa": True, "channels_last": True, "cudnn": True}, True),
        ]
    return variants


def flux_variants(quick: bool) -> list[Variant]:
    """fp8 storage comes last: it changes the transformer in place."""
    variants: list[Variant] = [("baseline (SDPA)", {"fp8_storage": False}, False)]
    if not quick:
        variants.append(("torch.compile", {"fp8_storage": False}, True))
    return [*variants, ("fp8 layerwise storage", {"fp8_storage": True}, False)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=("sd15", "sdxl", "flux"), default="sd15")
    parser.add_argument("--quick", action="store_true", help="10 steps, no torch.compile")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch", type=int, default=1, help="images per call")
    parser.add_argument("--size", type=int, help="image side (default: the model's native)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (best)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode")
    parser.add_argument("--device", default="cuda", help="cpu only with --smoke")
    parser.add_argument("--smoke", action="store_true", help="toy sizes, 2 steps: checks code")
    args = parser.parse_args()
    arch = args.arch
    steps = 2 if args.smoke else args.steps or (10 if args.quick else 30)
    size = args.size or (64 if args.smoke else NATIVE[arch])
    quick = args.quick or args.no_compile or args.smoke
    repeats = 1 if args.smoke else args.repeats

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench/gpu_engine.py needs a CUDA GPU (torch.cuda.is_available() is False here);")
        print("run it on a machine with an NVIDIA GPU and a CUDA build of torch,")
        print("or check the code on this machine with --smoke --device cpu.")
        print(json.dumps({"skipped": "no CUDA device", "arch": arch, "torch": torch.__version__}))
        return 0
    on_gpu = args.device.startswith("cuda")
    dtype = (torch.bfloat16 if arch == "flux" else torch.float16) if on_gpu else torch.float32
    started = time.perf_counter()
    pipe = build_pipeline(arch, args.device, dtype, smoke=args.smoke)
    built = time.perf_counter() - started
    denoiser = pipe.transformer if arch == "flux" else pipe.unet
    params = sum(p.numel() for p in denoiser.parameters()) / 1e6
    device_name = torch.cuda.get_device_name(args.device) if on_gpu else "cpu"
    passes = "" if arch == "flux" else " (×2 for CFG)"
    print(
        f"{arch} architecture{' (smoke size)' if args.smoke else ''} ({params:.0f}M denoiser "
        f"parameters) on {device_name}, {dtype}, {size}², {steps} steps, batch {args.batch}"
        f"{passes}; built in {built:.1f} s"
    )
    embeds = conditioning(arch, args.batch, args.device, dtype, args.smoke)
    variants = flux_variants(quick) if arch == "flux" else unet_variants(quick)
    results: dict[str, float | str] = {}
    baseline: float | None = None
    for name, options, compiled in variants:
        if arch == "flux":
            pipe.transformer = denoiser
            if options["fp8_storage"]:
                denoiser.enable_layerwise_casting(
                    storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype
                )
        else:
            configure(pipe, denoiser, **options)
        if compiled:
            torch._dynamo.reset()
            compiled_module = torch.compile(denoiser, mode=args.compile_mode, fullgraph=True)
            if arch == "flux":
                pipe.transformer = compiled_module
            else:
                pipe.unet = compiled_module
        try:
            speed = iterations_per_second(pipe, embeds, steps, size, repeats)
        except Exception as exc:  # report and go on: one failing option must not hide the rest
            results[name] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            print(f"  {name:<22} {results[name]}")
            continue
        results[name] = round(speed, 3)
        relative = f"  ×{speed / baseline:.2f} vs baseline" if baseline else ""
        if baseline is None:
            baseline = speed
        print(f"  {name:<22} {speed:7.3f} it/s{relative}")
    print(
        json.dumps(
            {
                "arch": arch,
                "smoke": args.smoke,
                "device": device_name,
                "dtype": str(dtype),
                "size": size,
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
