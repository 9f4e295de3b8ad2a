"""A GPU worker process on the fake engine: what the SIGKILL test kills.

python -m tests.generation.queue.worker_script URL NAME STEP_SECONDS CLAIM_IDLE PREFIX [HEARTBEAT]

CLAIM_IDLE "auto": derived from the heartbeat (HEARTBEAT s, 0.2 unless given), as by default.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from generation.config import QueueConfig
from generation.queue.worker import RedisWorker
from tests.generation.queue.fakes import FakeEngine


async def main(
    url: str,
    name: str,
    step_seconds: float,
    claim_idle: float | None,
    prefix: str,
    heartbeat: float = 0.2,
) -> None:
    config = QueueConfig(
        redis_url=url,
        claim_idle_seconds=claim_idle,
        heartbeat_seconds=heartbeat,
        stream_prefix=prefix,
        redis_backoff_max_seconds=0.5,
    )
    worker = RedisWorker(config, FakeEngine(step_seconds), name=name, models=["tiny"])
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop)
    await worker.run()


if __name__ == "__main__":
    url, name, step, idle, prefix = sys.argv[1:6]
    beat = float(sys.argv[6]) if len(sys.argv) > 6 else 0.2
    asyncio.run(main(url, name, float(step), None if idle == "auto" else float(idle), prefix, beat))
