"""``muralist imagine`` and ``muralist schedulers``: the engine from a terminal.

``imagine`` goes through the same ``DiffusersEngine`` the bot uses. Files are written to a
temporary name and renamed, so an interrupted run never leaves a half-written PNG behind.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config import Settings
from generation.errors import InvalidRequest
from generation.requests import (
    MAX_GUIDANCE,
    MAX_IMAGES,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    SEED_MAX,
    GenerationRequest,
    GenerationResult,
    StepProgress,
)
from generation.schedulers import SCHEDULER_NAMES
from generation.sizes import ASPECTS

# The command-line name of each request field, and the range a user may give it.
OPTION_NAMES = {"guidance": "cfg", "negative_prompt": "negative"}
ALLOWED = {
    "prompt": "a non-empty text of at most 20000 characters",
    "negative_prompt": "at most 20000 characters",
    "steps": f"1..{MAX_STEPS}",
    "guidance": f"a number in 0..{MAX_GUIDANCE:g}",
    "seed": f"0..{SEED_MAX}",
    "count": f"1..{MAX_IMAGES}",
    "width": f"{MIN_SIDE}..{MAX_SIDE} in steps of 8",
    "height": f"{MIN_SIDE}..{MAX_SIDE} in steps of 8",
}


def register(subparsers: Any) -> None:
    imagine = subparsers.add_parser(
        "imagine",
        help="paint images from a prompt with the local engine",
        description="Paint images from a prompt (A1111 or compel weights) with the local engine.",
    )
    imagine.add_argument("prompt", help="what to paint, e.g. 'a lighthouse at dusk, (fog:1.2)'")
    imagine.add_argument("--negative", default="", help="what to avoid")
    imagine.add_argument("--steps", help=f"denoising steps, 1..{MAX_STEPS} (default: config)")
    imagine.add_argument("--cfg", help=f"guidance scale, 0..{MAX_GUIDANCE:g} (default: config)")
    imagine.add_argument("--seed", help=f"0..{SEED_MAX}; drawn at random when left out")
    imagine.add_argument("--size", help="WIDTHxHEIGHT, multiples of 8 (default: model's native)")
    imagine.add_argument("--aspect", help=f"one of {', '.join(ASPECTS)} at the model's native size")
    imagine.add_argument("--scheduler", help="sampler name (see `muralist schedulers`)")
    imagine.add_argument("--model", help="catalog name or model folder (default: config)")
    imagine.add_argument("--style", help="a style preset (see `muralist styles`)")
    imagine.add_argument("--count", default="1", help=f"images, 1..{MAX_IMAGES} (default 1)")
    imagine.add_argument("--out", type=Path, default=Path("out"), help="folder (default: out)")
    imagine.add_argument("--json", action="store_true", help="print one JSON object")
    imagine.set_defaults(handler=run_imagine)

    listing = subparsers.add_parser("schedulers", help="list the scheduler (sampler) names")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=run_schedulers)


def run_schedulers(args: argparse.Namespace, settings: Settings) -> int:
    if args.json:
        print(json.dumps(list(SCHEDULER_NAMES)))
    else:
        default = settings.engine.default_scheduler
        for name in SCHEDULER_NAMES:
            print(f"{name}  (default)" if name == default else name)
    return 0


def run_imagine(args: argparse.Namespace, settings: Settings) -> int:
    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader
    from generation.schedulers import resolve
    from generation.sizes import aspect_size, native_size, parse_size
    from generation.studio import prompt_fields
    from prompting import PromptError, PromptSpec, build, load_library

    config = settings.engine
    model = args.model or config.default_model
    count = _number("count", args.count, int, 1)
    steps = _number("steps", args.steps, int, config.default_steps)
    # Drawn here, not by the engine, so the wildcard picks follow the printed seed too.
    seed = _number("seed", args.seed, int, None)
    if seed is None:
        seed = random.randint(0, SEED_MAX)
    loader = PipelineLoader(config)
    # The same prompt handling as /imagine: A1111 weights translated to compel, wildcards, edits.
    # The negative is yours alone here (no default negative), so the CLI stays comparable to a
    # plain diffusers call.
    try:
        built = build(
            PromptSpec(
                subject=args.prompt,
                negative=args.negative,
                style=args.style,
                use_default_negative=False,
            ),
            model_family=loader.catalog.resolve(model).family,
            presets=load_library(settings.prompting.presets_file),
            config=settings.prompting,
            seed=seed,
            count=count,
            steps=steps,
        )
    except PromptError as exc:  # name the option the user typed, not the spec's field
        field = {"subject": "prompt"}.get(exc.field, exc.field)
        raise PromptError(field, exc.message, exc.code) from None
    for warning in built.warnings:
        print(f"muralist imagine: warning: {warning.message}", file=sys.stderr)
    fields: dict[str, Any] = {
        **prompt_fields(built),
        "model": model,
        "steps": steps,
        "guidance": _number("cfg", args.cfg, float, config.default_guidance),
        "seed": seed,
        "count": count,
        "scheduler": resolve(args.scheduler or config.default_scheduler).name,
    }
    if args.size and args.aspect:
        raise InvalidRequest("size", "give either --size or --aspect, not both")
    if args.size:
        fields["width"], fields["height"] = parse_size(args.size)
    build_request(**fields)  # every cheap check before the model loads

    _quiet_libraries()
    loading = time.perf_counter()
    family = loader.get(fields["model"]).family
    load_seconds = time.perf_counter() - loading
    if args.aspect:
        fields["width"], fields["height"] = aspect_size(family, args.aspect)
    elif not args.size:
        fields["width"], fields["height"] = native_size(family)
    request = build_request(**fields)

    engine = DiffusersEngine(loader, config)
    result = _generate_with_progress(engine, request)
    result.timings.load += load_seconds  # loaded above, before the engine saw the request
    result.timings.total += load_seconds
    paths, grid = _write_images(result, args.out)
    if args.json:
        print(
            json.dumps(
                {
                    "paths": [str(path) for path in paths],
                    "grid": str(grid) if grid else None,
                    "seeds": result.seeds,
                    "model": result.model,
                    "scheduler": result.scheduler,
                    "width": request.width,
                    "height": request.height,
                    "timings": result.timings.model_dump(),
                }
            )
        )
    else:
        for path in [*paths, *([grid] if grid else [])]:
            print(path)
    return 0


def _quiet_libraries() -> None:
    """No library progress bars or advice on the terminal: ours is the only bar."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import diffusers
    import transformers

    for library in (diffusers, transformers):
        library.utils.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()


def build_request(**fields: Any) -> GenerationRequest:
    """A request, or ``InvalidRequest`` naming the option and its allowed range."""
    try:
        return GenerationRequest(**fields)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "request"
        message = str(problem["msg"]).removeprefix("Value error, ")
        if field in ALLOWED and problem["type"] != "value_error":
            message = f"{message} (allowed: {ALLOWED[field]}; got {problem['input']!r})"
        raise InvalidRequest(OPTION_NAMES.get(field, field), message) from None


def _number(option: str, text: str | None, kind: type, default: Any) -> Any:
    if text is None:
        return default
    try:
        return kind(text)
    except ValueError:
        raise InvalidRequest(option, f"{text!r} is not a number") from None


def _generate_with_progress(engine: Any, request: GenerationRequest) -> GenerationResult:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("painting"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    progress = Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True))
    task = progress.add_task("painting", total=request.steps)

    def advance(report: StepProgress) -> None:
        progress.start()  # on the first step: a refused request shows no bar
        progress.update(task, completed=report.step, total=report.total_steps)

    try:
        [result] = engine.generate([request], on_progress=advance)
    finally:
        progress.stop()
    return result


def _write_images(result: GenerationResult, out: Path) -> tuple[list[Path], Path | None]:
    """Each PNG (and a grid for several) under ``out``, each written whole or not at all."""
    from PIL import Image

    from generation.png import encode_png, make_grid

    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = [_write_atomically(out, f"{stamp}-{image.seed}", image.png) for image in result.images]
    grid = None
    if len(result.images) > 1:
        tiles = [Image.open(io.BytesIO(image.png)) for image in result.images]
        png = encode_png(make_grid(tiles), result.images[0].parameters)
        grid = _write_atomically(out, f"{stamp}-grid", png)
    return paths, grid


def _write_atomically(folder: Path, stem: str, data: bytes) -> Path:
    target = folder / f"{stem}.png"
    number = 1
    while target.exists():
        number += 1
        target = folder / f"{stem}-{number}.png"
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{stem}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
