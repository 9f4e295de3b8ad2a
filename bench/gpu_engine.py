"""Muralist's engine on a GPU at full SD 1.5 size, against plain diffusers, each option off and on.

    python bench/gpu_engine.py [--quick] [--steps 30] [--batch 1] [--size 512] [--repeats 5]
                               [--no-compile] [--variants NAME,...] [--device cuda] [--tiny]

Builds SD 1.5's UNet, VAE and CLIP text encoder at their real configs with random weights (the
same compute as the real model, no download), saves them as a diffusers folder and loads that
folder the way Muralist does: a catalog entry, ``PipelineLoader`` with an ``EngineConfig`` per
variant (device, fp16, cuDNN and TF32 flags, channels_last, fused QKV, torch.compile), and
``DiffusersEngine.generate`` with its compel prompts, per-image generators, callbacks and PNGs.
The baseline is the same folder in a plain ``StableDiffusionPipeline`` with the same scheduler,
steps, guidance, size and generators, its PNGs encoded too, and the cuDNN/TF32 flags the engine
uses by default (``cudnn_benchmark`` on), so the only differences are Muralist's own.

Variants: ``plain`` (diffusers), ``engine`` (defaults), ``channels_last``, ``fuse_qkv``,
``compile`` (torch.compile, default mode, compiled at warm-up for this shape), ``max_autotune``
(torch.compile mode max-autotune), ``all`` (channels_last + fuse_qkv + compile). Each variant has
its own loaded copy (about 2 GB each in fp16). They run interleaved, one request each per round,
``--repeats`` rounds; the figures are medians: denoising iterations per second (from the step
callbacks, first step excluded) and seconds per request (prompt to PNGs), each also as a ratio
to ``plain``. Compile variants report their warm-up (compile) time.

On a machine without CUDA it prints why it cannot run and exits 0 (``--device cpu --tiny`` runs
the same code on the built-in tiny model, as a smoke test). The last line is one JSON object.
``--quick``: 10 steps, 3 rounds, no compile variants.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script from a checkout: the repository, not bench/ (whose queue.py would shadow the
# standard library's queue module), goes first on the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from generation.config import EngineConfig  # noqa: E402
from generation.requests import GenerationRequest  # noqa: E402
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
MODEL = "sd15-random"
GUIDANCE = 7.0

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "engine": {},
    "channels_last": {"channels_last": True},
    "fuse_qkv": {"fuse_qkv": True},
    "compile": {"compile_unet": True},
    "max_autotune": {"compile_unet": True, "compile_mode": "max-autotune"},
    "all": {"channels_last": True, "fuse_qkv": True, "compile_unet": True},
}


def save_sd15(folder: Path, device: str, dtype: Any) -> None:
    """SD 1.5 at full size with random weights, saved as a diffusers folder."""
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
    scheduler = DPMSolverMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(),
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )  # fmt: skip
    pipe.to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(folder)


@dataclass
class Runs:
    it_per_s: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    compile_s: float | None = None
    error: str | None = None


def loop_speed(marks: list[float], steps: int) -> float:
    """Iterations per second between the first and the last step's end (first step excluded:
    it carries cuDNN's autotuning and lazy allocations)."""
    if len(marks) < 2:
        return float("nan")
    return (len(marks) - 1) / (marks[-1] - marks[0])


class Plain:
    """The baseline: the same folder in a plain diffusers pipeline, PNGs encoded as well."""

    def __init__(self, folder: Path | None, device: str, dtype: Any, tiny_cache: Path) -> None:
        from diffusers import AutoPipelineForText2Image
        from diffusers.utils import logging as diffusers_logging

        from generation import schedulers
        from generation.tiny import ensure_tiny_model

        diffusers_logging.disable_progress_bar()
        source = folder if folder is not None else ensure_tiny_model("tiny", tiny_cache)
        pipe = AutoPipelineForText2Image.from_pretrained(source, dtype=dtype)
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        pipe.scheduler = schedulers.build(EngineConfig().default_scheduler, pipe.scheduler.config)
        self.pipe = pipe

    def run(self, prompt: str, seed: int, args: argparse.Namespace) -> tuple[float, float]:
        import torch

        from generation.png import encode_png

        marks: list[float] = []

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> Any:
            _synchronize()
            marks.append(time.perf_counter())
            return tensors

        _synchronize()
        started = time.perf_counter()
        images = self.pipe(
            prompt, negative_prompt="", num_inference_steps=args.steps, guidance_scale=GUIDANCE,
            width=args.size, height=args.size, num_images_per_prompt=args.batch,
            generator=[torch.Generator("cpu").manual_seed(seed + i) for i in range(args.batch)],
            callback_on_step_end=on_step_end,
        ).images  # fmt: skip
        for image in images:
            encode_png(image, prompt)
        return loop_speed(marks, args.steps), time.perf_counter() - started


class Engine:
    """Muralist's loader and engine with one variant's options."""

    def __init__(self, config: EngineConfig, model: str) -> None:
        from generation.engine import DiffusersEngine
        from generation.loading import PipelineLoader

        self.model = model
        self.engine = DiffusersEngine(PipelineLoader(config), config)
        started = time.perf_counter()
        self.engine.warm_up([model])
        _synchronize()
        self.warm_s = time.perf_counter() - started

    def run(self, prompt: str, seed: int, args: argparse.Namespace) -> tuple[float, float]:
        marks: list[float] = []

        def on_progress(_progress: Any) -> None:
            _synchronize()
            marks.append(time.perf_counter())

        request = GenerationRequest(
            prompt=prompt, model=self.model, width=args.size, height=args.size,
            steps=args.steps, guidance=GUIDANCE, seed=seed, count=args.batch,
        )  # fmt: skip
        _synchronize()
        started = time.perf_counter()
        self.engine.generate([request], on_progress=on_progress)
        _synchronize()
        return loop_speed(marks, args.steps), time.perf_counter() - started


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 steps, 3 rounds, no compile")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch", type=int, default=1, help="images per request (1..4)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 5; quick 3)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile variants")
    parser.add_argument("--variants", help=f"comma-separated subset of {', '.join(VARIANTS)}")
    parser.add_argument("--device", default="cuda", help="cpu only for a smoke test")
    parser.add_argument("--tiny", action="store_true", help="the built-in tiny model (smoke)")
    args = parser.parse_args()
    args.steps = args.steps or (10 if args.quick else 30)
    repeats = args.repeats or (3 if args.quick else 5)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench/gpu_engine.py needs a CUDA GPU (torch.cuda.is_available() is False here);")
        print("run it on a machine with an NVIDIA GPU and a CUDA build of torch,")
        print("or smoke-test it here with --device cpu --tiny --no-compile.")
        print(json.dumps({"skipped": "no CUDA device", "torch": torch.__version__}))
        return 0
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if args.quick or args.no_compile:
        names = [n for n in names if not VARIANTS[n].get("compile_unet")]
    cuda = args.device.startswith("cuda")
    dtype = torch.float16 if cuda else torch.float32
    defaults = EngineConfig()

    with tempfile.TemporaryDirectory(prefix="muralist-gpu-bench-") as tmp:
        work = Path(tmp)
        folder: Path | None = None
        model = "tiny"
        catalog: Path | None = None
        if not args.tiny:
            folder = work / MODEL
            started = time.perf_counter()
            save_sd15(folder, args.device, dtype)
            print(f"SD 1.5 architecture saved in {time.perf_counter() - started:.1f} s")
            catalog = work / "models.toml"
            catalog.write_text(
                f'[models.{MODEL}]\nfolder = "{folder}"\nfamily = "sd1"\nnative_size = 512\n',
                encoding="utf-8",
            )
            model = MODEL
        base = {
            "models_file": catalog,
            "cache_dir": work / "cache",
            "device": args.device,
            "warmup_sizes": [f"{args.size}x{args.size}"],
            "warmup_images": [args.batch],
        }
        runners: dict[str, Any] = {}
        runs = {name: Runs() for name in names}
        for name in names:
            try:
                if name == "plain":
                    from generation.devices import configure_backends, resolve_placement

                    # The engine's default flags, process-wide, as every variant loads with them.
                    configure_backends(
                        resolve_placement(args.device, "auto"),
                        cudnn_benchmark=defaults.cudnn_benchmark,
                        tf32=defaults.tf32,
                    )
                    runners[name] = Plain(folder, args.device, dtype, work / "cache")
                else:
                    runner = Engine(EngineConfig(**base, **VARIANTS[name]), model)
                    runners[name] = runner
                    if VARIANTS[name].get("compile_unet"):
                        runs[name].compile_s = round(runner.warm_s, 1)
                for _ in range(2):  # warm-up: kernels chosen, allocator grown
                    runners[name].run("warm up", 0, args)
            except Exception as exc:  # report and go on: one failing option must not hide the rest
                runs[name].error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                print(f"  {name:<14} {runs[name].error}", flush=True)
        live = [n for n in names if runs[n].error is None]
        for round_ in range(repeats):
            prompt = f"a photo of a lighthouse at dusk, round {round_}"
            for name in live:
                speed, seconds = runners[name].run(prompt, 100 + round_, args)
                runs[name].it_per_s.append(speed)
                runs[name].seconds.append(seconds)

    device_name = torch.cuda.get_device_name(args.device) if cuda else "cpu"
    print(
        f"{'tiny model' if args.tiny else 'SD 1.5 architecture'} on {device_name}, {dtype}, "
        f"{args.size}², {args.steps} steps, batch {args.batch} (×2 for CFG), {repeats} "
        f"interleaved rounds (medians); cuDNN benchmark {defaults.cudnn_benchmark} everywhere"
    )
    figures: dict[str, Any] = {}
    medians: Callable[[list[float]], float] = statistics.median
    plain = runs.get("plain")
    for name in names:
        r = runs[name]
        if r.error is not None:
            figures[name] = {"error": r.error}
            continue
        speed, seconds = medians(r.it_per_s), medians(r.seconds)
        entry: dict[str, Any] = {"it_per_s": round(speed, 3), "request_s": round(seconds, 3)}
        if plain is not None and plain.error is None and name != "plain":
            entry["it_per_s_vs_plain"] = round(speed / medians(plain.it_per_s), 3)
            entry["request_s_vs_plain"] = round(seconds / medians(plain.seconds), 3)
        if r.compile_s is not None:
            entry["compile_s"] = r.compile_s
        figures[name] = entry
        extra = "".join(
            f", {k} {v}" for k, v in entry.items() if k not in ("it_per_s", "request_s")
        )
        print(f"  {name:<14} {speed:8.3f} it/s, {seconds:7.3f} s per request{extra}")
    print(
        json.dumps(
            {
                "device": device_name,
                "dtype": str(dtype),
                "model": "tiny" if args.tiny else "sd15-architecture",
                "size": args.size,
                "steps": args.steps,
                "batch": args.batch,
                "repeats": repeats,
                "cudnn_benchmark": defaults.cudnn_benchmark,
                "torch": torch.__version__,
                "variants": figures,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
