"""``muralist worker``: a GPU worker that takes jobs from the bot's queue over Redis."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from bot.config import Settings
from generation.errors import InvalidRequest

if TYPE_CHECKING:
    from generation.engine import DiffusersEngine
    from generation.queue.worker import RedisWorker


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a GPU worker that takes jobs over Redis",
        description=(
            "Run the engine on this machine for a bot whose queue is on Redis. Start one per GPU; "
            "stop with Ctrl-C or SIGTERM (the batch in hand finishes first)."
        ),
    )
    parser.add_argument(
        "--redis-url", help="redis://host:port/db (default: MURALIST_QUEUE__REDIS_URL)"
    )
    parser.add_argument("--name", help="worker name shown by /info (default: host-pid)")
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="MODEL",
        help="a model this worker serves; repeat for several (default: engine.default_model)",
    )
    parser.add_argument(
        "--capacity", type=int, default=1, help="batches at once (1 per GPU is right)"
    )
    parser.add_argument(
        "--preview-every", type=int, default=0, help="send a preview every N steps (0: none)"
    )
    parser.set_defaults(handler=run_worker)


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    queue = settings.queue
    if args.redis_url:
        queue = queue.model_validate({**queue.model_dump(), "redis_url": args.redis_url})
    if not queue.redis_url:
        raise InvalidRequest(
            "redis_url", "give --redis-url or set MURALIST_QUEUE__REDIS_URL (redis://host:6379/0)"
        )
    if not 1 <= args.capacity <= 16:
        raise InvalidRequest("capacity", f"{args.capacity} is outside 1..16")
    if args.preview_every < 0:
        raise InvalidRequest("preview_every", "must be 0 (off) or a positive number of steps")

    from generation.queue.worker import RedisWorker

    models = args.models or [settings.engine.default_model]
    engine = _engine(settings, models, args.preview_every)
    worker = RedisWorker(
        queue,
        engine,
        name=args.name,
        models=models,
        device=_device_name(engine.device),
        capacity=args.capacity,
    )
    print(
        f"muralist worker {worker.name}: serving {', '.join(worker.models)} on {worker.device} "
        f"from {queue.redis_url}",
        file=sys.stderr,
    )
    asyncio.run(_serve(worker))
    print(f"muralist worker {worker.name}: stopped after {worker.done} batches", file=sys.stderr)
    return 0


async def _serve(worker: RedisWorker) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, worker.stop)
    await worker.run()


def _engine(settings: Settings, models: list[str], preview_every: int) -> DiffusersEngine:
    """The diffusers engine with its models loaded (and compiled, with ``compile_unet``) now, so
    a bad model fails at start-up and the first job waits for neither a load nor a compile.
    """
    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader

    engine = DiffusersEngine(
        PipelineLoader(settings.engine), settings.engine, preview_every=preview_every
    )
    for line in engine.warm_up(models):
        print(f"muralist worker: {line}", file=sys.stderr)
    return engine


def _device_name(device: str) -> str:
    """What the heartbeat reports: the engine's resolved device, with the GPU's name on CUDA."""
    if not device.startswith("cuda"):
        return device
    import torch

    index = int(device.partition(":")[2] or 0)
    return f"cuda:{index} {torch.cuda.get_device_name(index)}"
