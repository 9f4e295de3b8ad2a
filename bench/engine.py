"""Engine overhead and batching, measured side by side in one run on one loaded model.

    python bench/engine.py [--quick] [--model tiny] [--size 512] [--steps 20] [--repeats 5]

1. The engine's time for one request ÷ a plain diffusers call doing the same work (same model,
   scheduler, steps, guidance, size, prompts, generator) — goal ≤ 1.03. Each round uses a new
   prompt for both, so the engine's prompt cache gives it no edge; the two alternate to share
   whatever else the machine is doing. Both end with a PNG of each image, as a job does (a PNG
   of a 1024² noise-like image costs about 0.1 s here, a third of a tiny FLUX step's time).
   ``--model tiny-flux`` and ``--model tiny-sd3`` compare
   against FluxPipeline and StableDiffusion3Pipeline called with the same T5 length.
2. A batch of 4 requests in one call ÷ the same 4 requests one by one.
3. LoRA cost per job (the family's built-in tiny LoRA): a job with a loaded LoRA ÷ a plain job,
   and the seconds to load the file into the pipeline and to delete it again.
4. Peak RSS of the process.

Both wall-clock and process CPU time are measured; on a shared CPU the CPU-time ratios (with
``--threads 1``, the default of ``--quick``) are the ones to trust, because other processes' load
stretches wall time unevenly. The last line of output is one JSON object with the figures.
``--quick`` (128², 4 steps, one thread) finishes within a minute on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script from a checkout: the repository, not bench/ (whose queue.py would shadow the
# standard library's queue module), goes first on the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from generation.config import EngineConfig  # noqa: E402
from generation.engine import DiffusersEngine  # noqa: E402
from generation.families import traits  # noqa: E402
from generation.loading import PipelineLoader  # noqa: E402
from generation.png import encode_png  # noqa: E402
from generation.requests import GenerationRequest  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128², 4 steps, 3 rounds")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--size", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/muralist"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (--quick: 1)")
    args = parser.parse_args()
    size = args.size or (128 if args.quick else 512)  # FLUX/SD 3.5 natively 1024: see README
    steps = args.steps or (4 if args.quick else 20)
    repeats = args.repeats or (3 if args.quick else 5)

    import torch

    from generation import schedulers

    threads = args.threads or (1 if args.quick else None)
    if threads:
        torch.set_num_threads(threads)

    config = EngineConfig(cache_dir=args.cache_dir, device=args.device)
    loader = PipelineLoader(config)
    engine = DiffusersEngine(loader, config)
    model = loader.get(args.model)
    pipe = model.pipe
    spec = model.spec
    flow = traits(model.family).flow
    scheduler = "Euler" if flow else (spec and spec.scheduler) or config.default_scheduler
    guidance = spec.guidance if spec is not None and spec.guidance is not None else 7.0
    family_args: dict[str, Any] = {"negative_prompt": ""}
    if model.family == "flux":  # no negative; T5 reads as many tokens as the engine's compel
        family_args = {"max_sequence_length": pipe.tokenizer_2.model_max_length}
    elif model.family == "sd3":
        family_args["max_sequence_length"] = min(pipe.tokenizer_3.model_max_length, 512)
    if spec is not None and spec.max_sequence_length and flow:
        family_args["max_sequence_length"] = spec.max_sequence_length

    def request(prompt: str, seed: int, **extra: Any) -> GenerationRequest:
        return GenerationRequest(
            prompt=prompt, model=args.model, width=size, height=size, steps=steps,
            guidance=guidance, seed=seed, scheduler=scheduler, **extra,
        )  # fmt: skip

    def plain(prompt: str, seed: int) -> Any:
        saved = pipe.scheduler
        pipe.scheduler = schedulers.build(scheduler, saved.config)
        try:
            images = pipe(
                prompt, num_inference_steps=steps, guidance_scale=guidance, width=size,
                height=size, generator=torch.Generator("cpu").manual_seed(seed), **family_args,
            ).images  # fmt: skip
            return [encode_png(image) for image in images]
        finally:
            pipe.scheduler = saved

    def timed(work: Any) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) of ``work()``."""
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        return time.perf_counter() - wall, time.process_time() - cpu

    def ratio(top: list[tuple[float, float]], bottom: list[tuple[float, float]], i: int) -> float:
        return round(
            statistics.median(t[i] for t in top) / statistics.median(b[i] for b in bottom), 3
        )

    def median(times: list[tuple[float, float]], i: int) -> float:
        return round(statistics.median(t[i] for t in times), 4)

    timed(lambda: engine.generate([request("warm up", 0)]))
    timed(lambda: plain("warm up", 0))
    engine_times, plain_times = [], []
    for round_ in range(repeats):
        prompt = f"a photo of a lighthouse at dusk, round {round_}"
        engine_times.append(timed(lambda p=prompt, r=round_: engine.generate([request(p, r)])))
        plain_times.append(timed(lambda p=prompt, r=round_: plain(p, r)))

    batch_times, single_times = [], []
    for round_ in range(max(1, repeats // 2)):
        batch = [request(f"a castle, batch {round_} item {i}", i) for i in range(4)]
        singles = [request(f"a castle, single {round_} item {i}", i) for i in range(4)]
        batch_times.append(timed(lambda b=batch: engine.generate(b)))
        single_times.append(timed(lambda s=singles: [engine.generate([r]) for r in s]))

    lora_name = next(iter(loader.catalog.loras_for(model.family)), None)
    lora: dict[str, Any] = {}
    if lora_name is not None:
        lora = _lora_costs(engine, request, lora_name, repeats, timed, median, ratio)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "model": args.model,
        "device": str(pipe._execution_device),
        "threads": torch.get_num_threads(),
        "size": size,
        "steps": steps,
        "repeats": repeats,
        "engine_cpu_s": median(engine_times, 1),
        "plain_cpu_s": median(plain_times, 1),
        "engine_over_plain_cpu": ratio(engine_times, plain_times, 1),
        "engine_over_plain_wall": ratio(engine_times, plain_times, 0),
        "batch4_cpu_s": median(batch_times, 1),
        "four_singles_cpu_s": median(single_times, 1),
        "batch4_over_four_singles_cpu": ratio(batch_times, single_times, 1),
        "batch4_over_four_singles_wall": ratio(batch_times, single_times, 0),
        **lora,
        "peak_rss_mb": round(peak_mb, 1),
    }
    f = figures
    print(
        f"{args.model} on {f['device']}, {f['threads']} thread(s), {size}², {steps} steps, "
        f"{scheduler}, {repeats} rounds (medians)"
    )
    print(
        f"engine ÷ plain diffusers: CPU {f['engine_cpu_s']} s ÷ {f['plain_cpu_s']} s = "
        f"{f['engine_over_plain_cpu']}; wall ratio {f['engine_over_plain_wall']}"
    )
    print(
        f"batch of 4 ÷ 4 single calls: CPU {f['batch4_cpu_s']} s ÷ {f['four_singles_cpu_s']} s"
        f" = {f['batch4_over_four_singles_cpu']}; wall ratio {f['batch4_over_four_singles_wall']}"
    )
    if lora:
        print(
            f"LoRA {lora['lora']}: a job with it ÷ a plain job: "
            f"CPU {lora['lora_job_over_plain_cpu']}; loading the file {lora['lora_load_s']} s, "
            f"deleting it {lora['lora_delete_s']} s"
        )
    print(f"peak RSS: {figures['peak_rss_mb']} MB")
    print(json.dumps(figures))
    return 0


def _lora_costs(
    engine: DiffusersEngine,
    request: Any,
    name: str,
    repeats: int,
    timed: Any,
    median: Any,
    ratio: Any,
) -> dict[str, Any]:
    """A job with the LoRA on ÷ a plain job (both with the adapter loaded), then the load and
    the deletion of the adapter on their own."""
    from generation.adapters import adapter_name

    pipe = engine.loader.get(request("x", 0).model).pipe
    lora = [f"{name}:0.8"]
    timed(lambda: engine.generate([request("lora warm up", 0, loras=lora)]))
    with_lora, without = [], []
    for round_ in range(repeats):
        prompt = f"a fox in the snow, round {round_}"
        with_lora.append(
            timed(lambda p=prompt, r=round_: engine.generate([request(p, r, loras=lora)]))
        )
        without.append(timed(lambda p=prompt, r=round_: engine.generate([request(p, r)])))
    adapter = adapter_name(name)
    delete = timed(lambda: pipe.delete_adapters(adapter))
    engine.loras._loaded.pop(pipe, None)  # forget it, so the next job loads the file again
    spec = engine.loader.catalog.lora(name)
    load = timed(lambda: engine.loras._ensure(pipe, spec))
    return {
        "lora": name,
        "lora_job_cpu_s": median(with_lora, 1),
        "lora_job_over_plain_cpu": ratio(with_lora, without, 1),
        "lora_job_over_plain_wall": ratio(with_lora, without, 0),
        "lora_load_s": round(load[0], 4),
        "lora_delete_s": round(delete[0], 4),
    }


if __name__ == "__main__":
    raise SystemExit(main())
