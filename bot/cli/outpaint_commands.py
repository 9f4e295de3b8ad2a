"""``muralist zoom``, ``muralist pan`` and ``muralist region``: the masked edits from a terminal.

Each reads a picture file as untrusted (as a Discord attachment is), plans the request with
studio's planner at the picture's shape (``--model``, ``--steps``, ``--seed`` as ``imagine``
takes them), builds the canvas and mask with ``studio.canvas`` (the same code as the buttons and
``/region``) and paints it with the local engine. The prompt defaults to the one a Muralist,
A1111 or ComfyUI PNG carries in its ``parameters``; a bad option exits 2 naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bot.cli.generation_commands import (
    _generate_with_progress,
    _number,
    _quiet_libraries,
    _read_file,
    _write_images,
)
from bot.config import Settings
from bot.wiring import build_planner
from generation.errors import InvalidRequest
from generation.png import parse_parameters, read_parameters
from studio import ImagineOptions, derivations
from studio import canvas as canvases
from studio.image_inputs import read_picture

_DIRECTIONS = ("left", "right", "up", "down")


def register(subparsers: Any) -> None:
    zoom = subparsers.add_parser(
        "zoom",
        help="zoom out of a picture: it shrinks into the middle and the border is painted",
        description="Zoom out ×1.5 or ×2 (outpainting): the picture keeps its size, its content "
        "shrinks into the middle and a new border is painted around it.",
    )
    zoom.add_argument("--factor", default="2", choices=("1.5", "2"), help="×1.5 or ×2 (default 2)")
    _common(zoom)
    zoom.set_defaults(handler=run_zoom)

    pan = subparsers.add_parser(
        "pan",
        help="pan a picture: the view slides a third and the new strip is painted",
        description="Pan (outpainting): the view slides a third of the picture in DIRECTION and "
        "the strip that comes into view is painted.",
    )
    pan.add_argument("--direction", required=True, choices=_DIRECTIONS, help="where to look")
    _common(pan)
    pan.set_defaults(handler=run_pan)

    region = subparsers.add_parser(
        "region",
        help="paint part of a picture again (a mask file or a named region)",
        description="Vary region (inpainting): the white part of --mask, or a named --area, is "
        "painted again from the prompt; the rest is kept pixel for pixel.",
    )
    where = region.add_mutually_exclusive_group(required=True)
    where.add_argument("--mask", type=Path, help="same shape as IMAGE: white = paint again")
    where.add_argument("--area", choices=tuple(canvases.REGIONS), help="a named region")
    region.add_argument("--strength", help="how far to move away inside the mask (default 1)")
    _common(region)
    region.set_defaults(handler=run_region)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the picture (PNG, JPEG, WebP, GIF or BMP)")
    parser.add_argument("--prompt", help="what to paint (default: the prompt in the PNG)")
    parser.add_argument("--model", help="catalog name (default: config)")
    parser.add_argument("--steps", help="denoising steps (default: config)")
    parser.add_argument("--seed", help="drawn at random when left out")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder (default: out)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_zoom(args: argparse.Namespace, settings: Settings) -> int:
    move = "zoom_out_1.5" if args.factor == "1.5" else "zoom_out_2"
    return _run(
        args, settings, lambda picture, size, _: canvases.outpaint(picture, move, size), keep=True
    )


def run_pan(args: argparse.Namespace, settings: Settings) -> int:
    move = f"pan_{args.direction}"
    return _run(
        args, settings, lambda picture, size, _: canvases.outpaint(picture, move, size), keep=True
    )


def run_region(args: argparse.Namespace, settings: Settings) -> int:
    def make(picture: Any, size: tuple[int, int], limits: tuple[int, int]) -> canvases.Canvas:
        if args.area is not None:
            return canvases.region(picture, args.area, size)
        data = _read_file(args.mask, limits[0], field="mask")
        mask = read_picture(data, field="mask", max_pixels=limits[1])
        return canvases.with_mask(picture, canvases.open_picture(mask.png), size)

    strength = _number("strength", args.strength, float)
    return _run(args, settings, make, strength)


def _run(
    args: argparse.Namespace,
    settings: Settings,
    make: Any,
    strength: float | None = None,
    *,
    keep: bool = False,
) -> int:
    """Read, plan, build the canvas (``make(picture, size, (bytes, pixels) limits)``), paint,
    write, report. ``keep``: the result has the picture's own size (shrunk to the engine's pixel
    limit), as the zoom and pan buttons do; else the planner's size at the picture's shape."""
    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader

    planner = build_planner(settings)
    limits = (planner.options.input_max_bytes, planner.options.input_max_pixels)
    data = _read_file(args.image, limits[0])
    picture = read_picture(data, field="image", max_pixels=limits[1])
    options = ImagineOptions.parse(
        prompt=args.prompt or _written_prompt(data),
        model=args.model,
        steps=_number("steps", args.steps, int),
        seed=_number("seed", args.seed, int),
        count=1,
        strength=strength,
    ).model_copy(update={"image": picture})
    plan = planner.plan(options, local_models=True)
    size = (plan.request.width, plan.request.height)
    if keep:
        family = planner.catalog.resolve(plan.request.model).family
        size = canvases.fit_size(family, picture.width, picture.height, planner.engine.max_pixels)
    made = make(canvases.open_picture(picture.png), size, limits)
    request = derivations.canvas_request(plan.request, made, strength)

    _quiet_libraries()
    loader = PipelineLoader(settings.engine)
    started = time.perf_counter()
    result = _generate_with_progress(DiffusersEngine(loader, settings.engine), request)
    seconds = time.perf_counter() - started
    paths, _ = _write_images(result, args.out)
    for warning in plan.warnings:
        print(f"muralist {args.command}: note: {warning}", file=sys.stderr)
    if args.json:
        report = {
            "paths": [str(path) for path in paths],
            "seeds": result.seeds,
            "model": result.model,
            "width": request.width,
            "height": request.height,
            "seconds": round(seconds, 3),
        }
        print(json.dumps(report))
    else:
        for path in paths:
            print(path)
    return 0


def _written_prompt(data: bytes) -> str:
    """The prompt the picture's PNG ``parameters`` carry, or ``InvalidRequest`` on ``prompt``."""
    text = read_parameters(data) if data.startswith(b"\x89PNG") else None
    prompt = parse_parameters(text).prompt.strip() if text else ""
    if not prompt:
        raise InvalidRequest("prompt", "this picture carries no prompt; give one with --prompt")
    return prompt
