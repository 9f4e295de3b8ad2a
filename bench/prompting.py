"""What prompt handling costs next to the pipeline's own prompt encoding.

For each prompt, side by side in one run on the built-in model: ``build`` (preset, translation,
negatives) + compel encoding of the positive and negative prompt, against diffusers'
``pipe.encode_prompt`` for the same text; and a reroll's encoding (stored final prompts, cached).
Prints the median ratios; the last line is one JSON object.

    .venv/bin/python -m bench.prompting [--quick]

Goals (issue 3): unweighted prompts ≤ 1.2× ``encode_prompt``; a cache hit ≤ 0.05×.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generation.conditioning import PromptEncoder  # noqa: E402
from generation.config import EngineConfig  # noqa: E402
from generation.loading import LoadedModel, PipelineLoader  # noqa: E402
from prompting import PromptSpec, build, load_library  # noqa: E402

UNWEIGHTED = [
    "a lighthouse on a cliff in a storm, dramatic sky",
    "portrait of an old fisherman, weathered face, soft window light",
    "a fox in a snowy forest at dawn",
]
WEIGHTED = [
    "a (lighthouse:1.3) on a cliff in a ((storm)), [calm sea]",
    "portrait of an (old fisherman:1.2), (weathered face)1.1, soft window light",
]


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(model: LoadedModel, prompts: list[str], repeats: int) -> dict[str, float]:
    """Median ratios over ``repeats`` interleaved rounds (ours and diffusers' alternately)."""
    pipe = model.pipe
    presets = load_library(None)
    uncached = PromptEncoder(cache_size=0)  # every call runs the text encoder, as a first request
    cached = PromptEncoder()
    ours: list[float] = []
    hits: list[float] = []
    plain: list[float] = []

    def ours_once(text: str, encoder: PromptEncoder) -> None:
        built = build(PromptSpec(subject=text), model_family=model.family, presets=presets)
        encoder.encode(model, built.positive)
        encoder.encode(model, built.negative)

    finals = {
        text: build(PromptSpec(subject=text), model_family=model.family, presets=presets)
        for text in prompts
    }

    def reroll_once(text: str) -> None:
        # a reroll reuses the stored job's final prompts: only the encoding cache is asked
        cached.encode(model, finals[text].positive)
        cached.encode(model, finals[text].negative)

    def plain_once(text: str) -> None:
        built = build(PromptSpec(subject=text), model_family=model.family, presets=presets)
        # diffusers' own encoding of the same final texts (no weighting, truncating at 77)
        pipe.encode_prompt(
            built.positive,
            device=pipe.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
            negative_prompt=built.negative,
        )

    for prompt in prompts:  # warm-up: compel wrapper, tokenizer caches
        ours_once(prompt, uncached)
        plain_once(prompt)
        ours_once(prompt, cached)
    for _ in range(repeats):
        for prompt in prompts:
            plain.append(timed(lambda p=prompt: plain_once(p)))
            ours.append(timed(lambda p=prompt: ours_once(p, uncached)))
            hits.append(timed(lambda p=prompt: reroll_once(p)))
    base = statistics.median(plain)
    return {
        "encode_prompt_ms": round(base * 1000, 3),
        "ours_ms": round(statistics.median(ours) * 1000, 3),
        "cache_hit_ms": round(statistics.median(hits) * 1000, 3),
        "ratio": round(statistics.median(ours) / base, 3),
        "cache_hit_ratio": round(statistics.median(hits) / base, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (< 1 minute)")
    args = parser.parse_args()
    repeats = 5 if args.quick else 30
    with tempfile.TemporaryDirectory() as cache:
        loader = PipelineLoader(EngineConfig(device="cpu", cache_dir=Path(cache)))
        model = loader.get("tiny")
        unweighted = measure(model, UNWEIGHTED, repeats)
        weighted = measure(model, WEIGHTED, repeats)
    print(f"built-in model 'tiny' ({model.family}), {repeats} interleaved rounds, medians:")
    for name, figures in (("unweighted", unweighted), ("weighted", weighted)):
        print(
            f"  {name:10s}: build+encode {figures['ours_ms']:.2f} ms vs encode_prompt "
            f"{figures['encode_prompt_ms']:.2f} ms = {figures['ratio']:.2f}x; "
            f"cache hit {figures['cache_hit_ms']:.3f} ms = {figures['cache_hit_ratio']:.4f}x"
        )
    print(
        json.dumps(
            {
                "quick": args.quick,
                "rounds": repeats,
                "unweighted_ratio": unweighted["ratio"],
                "weighted_ratio": weighted["ratio"],
                "cache_hit_ratio": unweighted["cache_hit_ratio"],
                "encode_prompt_ms": unweighted["encode_prompt_ms"],
                "unweighted_ms": unweighted["ours_ms"],
                "cache_hit_ms": unweighted["cache_hit_ms"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
