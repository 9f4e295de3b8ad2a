"""How much the safety checks cost next to the work they guard.

Measures, in one run on this machine: one denoising step of the built-in model at 512×512, the
prompt check per prompt (the evaluation set of bench/safety_eval.py, and a 20,000-character
prompt), and the image check per image (512×512 images from the built-in model, NudeNet on CPU).
Prints each as milliseconds and as a ratio of one engine step per image; the last line is one JSON
object.

torch (the engine) and onnxruntime (NudeNet) both run with ``--threads`` threads (default 1): each
library otherwise sizes its own thread pool, and a ratio of a 1-thread step to an all-core check
(or the reverse) says more about the thread counts than about the checks.

    PYTHONPATH=. python bench/safety.py [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The repository, not bench/ (whose queue.py would shadow the standard library's queue module),
# goes first on the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from bench.safety_eval import load as load_eval_set  # noqa: E402
from generation.config import EngineConfig  # noqa: E402
from generation.loading import PipelineLoader  # noqa: E402
from safety.images import ImageChecker  # noqa: E402
from safety.prompt_filter import PromptFilter  # noqa: E402


def engine_step_seconds(pipe: Any, prompts: list[str], steps: int) -> tuple[float, list[Any]]:
    """Median time of one UNet step at 512×512 (from step-end timestamps), and the images."""
    import torch

    marks: list[float] = []

    def on_step_end(pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> Any:
        marks.append(time.perf_counter())
        return kwargs

    start = time.perf_counter()
    images = pipe(
        prompts,
        width=512,
        height=512,
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(0),
        callback_on_step_end=on_step_end,
    ).images
    gaps = [b - a for a, b in zip([start, *marks[:-1]], marks, strict=True)][1:]  # skip warm-up
    return statistics.median(gaps), images


def nudenet_detector(threads: int) -> Any:
    """NudeNet's detector with its onnxruntime session limited to ``threads`` threads."""
    import nudenet
    import onnxruntime

    detector = nudenet.NudeDetector()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    model_path = Path(nudenet.__file__).parent / "320n.onnx"  # the detector's own default
    detector.onnx_session = onnxruntime.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return detector


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 minute)")
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5

    import torch

    torch.set_num_threads(args.threads)

    loader = PipelineLoader(EngineConfig(device="cpu"))
    pipe = loader.get("tiny").pipe
    scenes = ["a lighthouse in a storm", "a fox in a snowy forest"]
    step, images = engine_step_seconds(
        pipe, scenes[:1] if args.quick else scenes, 3 if args.quick else 6
    )

    prompt_filter = PromptFilter()
    disguised, benign = load_eval_set()
    prompts = [item["prompt"] for item in disguised + benign]
    prompt_filter.check("warm-up")
    started = time.perf_counter()
    for _ in range(repeats):
        for prompt in prompts:
            prompt_filter.check(prompt)
    per_prompt = (time.perf_counter() - started) / (repeats * len(prompts))
    long_prompt = ("a castle on a hill, n.u.d.3, " * 700)[:20_000]
    started = time.perf_counter()
    for _ in range(repeats):
        prompt_filter.check(long_prompt)
    per_long_prompt = (time.perf_counter() - started) / repeats

    checker = ImageChecker(detector=nudenet_detector(args.threads))
    pngs = []
    for image in images:
        out = io.BytesIO()
        image.save(out, format="PNG")
        pngs.append(out.getvalue())
    checker.check(pngs[0])  # loads NudeNet
    verdicts = []
    started = time.perf_counter()
    for _ in range(repeats):
        verdicts += checker.check_batch(pngs)
    per_image = (time.perf_counter() - started) / len(verdicts)
    reported = statistics.median(v.seconds for v in verdicts)

    per_image_step = step / len(images)
    result = {
        "threads": args.threads,
        "engine_step_512_s": round(step, 4),
        "engine_batch": len(images),
        "engine_step_per_image_s": round(per_image_step, 4),
        "prompt_check_ms": round(per_prompt * 1000, 3),
        "prompt_check_per_step": round(per_prompt / per_image_step, 5),
        "prompts": len(prompts),
        "prompt_20k_chars_ms": round(per_long_prompt * 1000, 2),
        "prompt_20k_chars_per_step": round(per_long_prompt / per_image_step, 4),
        "image_check_ms": round(per_image * 1000, 2),
        "image_check_reported_ms": round(reported * 1000, 2),
        "image_check_per_step": round(per_image / per_image_step, 4),
        "image_statuses": sorted({v.status for v in verdicts}),
        "quick": args.quick,
    }
    print(
        f"{args.threads} thread(s) for torch and onnxruntime; one engine step (tiny model, "
        f"512×512, batch {len(images)}): {step * 1000:.1f} ms, {per_image_step * 1000:.1f} ms "
        "per image"
    )
    print(
        f"prompt check: {per_prompt * 1000:.3f} ms per prompt over {len(prompts)} prompts "
        f"= {per_prompt / per_image_step:.5f} steps"
    )
    print(
        f"prompt check, 20,000 characters: {per_long_prompt * 1000:.1f} ms "
        f"= {per_long_prompt / per_image_step:.4f} steps"
    )
    print(
        f"image check (NudeNet, 512×512 PNG): {per_image * 1000:.1f} ms per image "
        f"= {per_image / per_image_step:.3f} engine steps of one image"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
