"""``muralist imagine`` and ``muralist schedulers``: the engine from a terminal.

``imagine`` plans its request with studio's planner, as ``/imagine`` does (the same options give
the same request), and paints it with the same ``DiffusersEngine`` the bot uses. Files are written
to a temporary name and renamed, so an interrupted run never leaves a half-written PNG behind.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.wiring import build_planner
from generation.errors import InvalidRequest
from generation.requests import GenerationRequest, GenerationResult, StepProgress
from generation.schedulers import SCHEDULER_NAMES
from generation.sizes import ASPECTS, parse_size
from studio import ImagineOptions
from studio.guides import CONTROL_MODE_HELP
from studio.image_inputs import read_picture
from studio.pictures import repeat_png
from studio.ranges import describe

_STEPS, _CFG, _SEED, _COUNT, _STRENGTH = (
    describe(ImagineOptions, name) for name in ("steps", "cfg", "seed", "count", "strength")
)
_WEIGHT = describe(ImagineOptions, "sref_weight")


def register(subparsers: Any) -> None:
    imagine = subparsers.add_parser(
        "imagine",
        help="paint images from a prompt with the local engine",
        description="Paint images from a prompt (A1111 or compel weights) with the local engine.",
    )
    imagine.add_argument("prompt", help="what to paint, e.g. 'a lighthouse at dusk, (fog:1.2)'")
    imagine.add_argument("--negative", help="what to avoid (after the model's default negative)")
    imagine.add_argument(
        "--no-default-negative",
        action="store_true",
        help="leave the model's default negative out (only --negative)",
    )
    for name, example in (
        ("medium", "oil painting"),
        ("lighting", "golden hour"),
        ("composition", "close-up"),
        ("details", "freckles, rain on the window"),
    ):
        imagine.add_argument(f"--{name}", help=f"the {name}, e.g. {example}")
    imagine.add_argument("--steps", help=f"denoising steps, {_STEPS} (default: config)")
    imagine.add_argument("--cfg", help=f"guidance scale, {_CFG} (default: config)")
    imagine.add_argument(
        "--guidance", help=f"FLUX.1-dev's distilled guidance, {_CFG} (default: the model's)"
    )
    imagine.add_argument("--lora", help="a LoRA of the catalog: NAME or NAME:WEIGHT")
    imagine.add_argument(
        "--draft",
        action="store_true",
        help="paint with the family's fast few-step model (see `muralist models`)",
    )
    imagine.add_argument(
        "--image", type=Path, help="a picture to start from (img2img): PNG, JPEG, WebP, GIF, BMP"
    )
    imagine.add_argument(
        "--strength",
        help=f"how far to move away from --image, {_STRENGTH} (default: config)",
    )
    imagine.add_argument(
        "--tile", action="store_true", help="paint a seamless tile (edges wrap around)"
    )
    imagine.add_argument("--sref", type=Path, help="a style reference picture (IP-Adapter)")
    imagine.add_argument(
        "--sref-weight", help=f"the style reference's weight, {_WEIGHT} (default 1)"
    )
    imagine.add_argument("--cref", type=Path, help="a character reference picture (IP-Adapter)")
    imagine.add_argument(
        "--cref-weight", help=f"the character reference's weight, {_WEIGHT} (default 0.6)"
    )
    imagine.add_argument(
        "--control", type=Path, help="a picture whose edges or lines to follow (ControlNet)"
    )
    imagine.add_argument(
        "--control-mode", help=f"{CONTROL_MODE_HELP}; default canny (see `muralist guides`)"
    )
    imagine.add_argument("--seed", help=f"{_SEED}; drawn at random when left out")
    imagine.add_argument("--size", help="WIDTHxHEIGHT, multiples of 8 (default: model's native)")
    imagine.add_argument("--aspect", help=f"one of {', '.join(ASPECTS)} at the model's native size")
    imagine.add_argument("--scheduler", help="sampler name (see `muralist schedulers`)")
    imagine.add_argument("--model", help="catalog name or model folder (default: config)")
    imagine.add_argument("--style", help="a style preset (see `muralist styles`)")
    imagine.add_argument("--count", default="1", help=f"images, {_COUNT} (default 1)")
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

    if args.size and args.aspect:
        raise InvalidRequest("size", "give either --size or --aspect, not both")
    options = ImagineOptions.parse(
        prompt=args.prompt,
        negative=args.negative,
        style=args.style,
        medium=args.medium,
        lighting=args.lighting,
        composition=args.composition,
        details=args.details,
        aspect=args.aspect,
        size=parse_size(args.size) if args.size else None,
        count=_number("count", args.count, int),
        steps=_number("steps", args.steps, int),
        cfg=_number("cfg", args.cfg, float),
        guidance=_number("guidance", args.guidance, float),
        seed=_number("seed", args.seed, int),
        scheduler=args.scheduler,
        model=args.model,
        lora=args.lora,
        draft=args.draft,
        default_negative=not args.no_default_negative,
        strength=_number("strength", args.strength, float),
        tile=args.tile,
        control_mode=args.control_mode,
        sref_weight=_number("sref_weight", args.sref_weight, float),
        cref_weight=_number("cref_weight", args.cref_weight, float),
    )
    planner = build_planner(settings)
    pictures = {}
    for name in ("image", "sref", "cref", "control"):
        path = getattr(args, name)
        if path is not None:  # read as untrusted, as a Discord attachment is
            pictures[name] = read_picture(
                _read_file(path, planner.options.input_max_bytes, field=name),
                field=name,
                max_pixels=planner.options.input_max_pixels,
            )
    options = options.model_copy(update=pictures)
    # The same planning as /imagine (the operator may also name a model folder on this host);
    # every cheap check runs before the model loads.
    plan = planner.plan(options, local_models=True)
    request = plan.request

    _quiet_libraries()
    loader = PipelineLoader(settings.engine)
    loading = time.perf_counter()
    loader.get(request.model)
    load_seconds = time.perf_counter() - loading

    engine = DiffusersEngine(loader, settings.engine)
    result = _generate_with_progress(engine, request)
    result.timings.load += load_seconds  # loaded above, before the engine saw the request
    result.timings.total += load_seconds
    paths, grid = _write_images(result, args.out)
    tiled = [_write_tiled(path) for path in paths] if request.tile else []
    for warning in plan.warnings:  # token counts (the model's own tokenizer) and warnings
        print(f"muralist imagine: note: {warning}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "paths": [str(path) for path in paths],
                    "grid": str(grid) if grid else None,
                    "tiled": [str(path) for path in tiled],
                    "seeds": result.seeds,
                    "model": result.model,
                    "scheduler": result.scheduler,
                    "steps": request.steps,
                    "guidance": request.guidance,
                    "loras": [lora.model_dump() for lora in request.loras],
                    "references": [r.model_dump(exclude={"png"}) for r in request.references],
                    "control": request.control.model_dump(exclude={"png"})
                    if request.control
                    else None,
                    "width": request.width,
                    "height": request.height,
                    "warnings": plan.warnings,
                    "timings": result.timings.model_dump(),
                }
            )
        )
    else:
        for path in [*paths, *([grid] if grid else []), *tiled]:
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


def _read_file(path: Path, limit: int, field: str = "image") -> bytes:
    """The file's bytes, or ``InvalidRequest`` on ``field`` (missing, a folder, too big)."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise InvalidRequest(
                field, f"{path} is {size / 2**20:.1f} MiB; use at most {limit / 2**20:.1f} MiB"
            )
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise InvalidRequest(field, f"cannot read {path}: {exc.strerror}") from None


def _number(option: str, text: str | None, kind: type) -> Any:
    if text is None:
        return None
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


def _write_tiled(path: Path) -> Path:
    """Beside a seamless tile, the tile repeated 2×2 (``<name>-tiled.png``), to see it wrap."""
    return _write_atomically(path.parent, f"{path.stem}-tiled", repeat_png(path.read_bytes()))


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
