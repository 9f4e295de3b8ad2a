"""How much the safety checks cost next to the work they guard.

Measures, in one run on this machine: one denoising step of the built-in model at 512×512, the
prompt check per prompt (the evaluation set of bench/safety_eval.py, and a 20,000-character
prompt), and the image check per image (512×512 images from the built-in model, NudeNet on CPU).
Prints each as milliseconds and as a ratio of one engine step; the last line is one JSON object.

    PYTHONPATH=. python bench/safety.py [--quick]
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
sys.path.insert(0, str(ROOT))

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 minute)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5

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

    checker = ImageChecker()
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

    result = {
        "engine_step_512_s": round(step, 4),
        "engine_batch": len(images),
        "prompt_check_ms": round(per_prompt * 1000, 3),
        "prompt_check_per_step": round(per_prompt / step, 5),
        "prompts": len(prompts),
        "prompt_20k_chars_ms": round(per_long_prompt * 1000, 2),
        "prompt_20k_chars_per_step": round(per_long_prompt / step, 4),
        "image_check_ms": round(per_image * 1000, 2),
        "image_check_reported_ms": round(reported * 1000, 2),
        "image_check_per_step": round(per_image / step, 4),
        "image_statuses": sorted({v.status for v in verdicts}),
        "quick": args.quick,
    }
    print(f"one engine step (tiny model, 512×512, batch {len(images)}): {step * 1000:.1f} ms")
    print(
        f"prompt check: {per_prompt * 1000:.3f} ms per prompt over {len(prompts)} prompts "
        f"= {per_prompt / step:.5f} steps"
    )
    print(
        f"prompt check, 20,000 characters: {per_long_prompt * 1000:.1f} ms "
        f"= {per_long_prompt / step:.4f} steps"
    )
    print(
        f"image check (NudeNet, 512×512 PNG): {per_image * 1000:.1f} ms per image "
        f"= {per_image / step:.3f} steps"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
