"""The in-process backend: the engine runs in worker threads, never on the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from generation.engine_api import CancelCheck, ImageEngine, ProgressCallback
from generation.queue.jobs import Job, WorkerInfo
from generation.queue.service import BackendSink
from generation.requests import GenerationRequest, GenerationResult, StepProgress

log = logging.getLogger(__name__)


class InProcessRunner:
    """Runs up to ``slots`` batches at once, each in its own thread (one per GPU slot)."""

    def __init__(self, engine: ImageEngine, slots: int = 1, device: str = "local") -> None:
        self.engine = engine
        self.slots = slots
        self.device = device
        self._busy = 0
        self._cancelled: set[str] = set()
        self._closing = False
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="engine")
        self._tasks: set[asyncio.Task[None]] = set()
        self._sink: BackendSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, sink: BackendSink) -> None:
        self._sink = sink
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        """Stop the engine at its next step; the jobs stay running in the store, so they run
        again after a restart.
        """
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def capacity(self) -> int:
        return self.slots

    def free_slots(self, model: str) -> int:
        return self.slots - self._busy

    def cancel(self, job_id: str) -> None:
        self._cancelled.add(job_id)

    def workers(self) -> list[WorkerInfo]:
        info = WorkerInfo(
            name="in-process",
            models=["*"],
            device=self.device,
            capacity=self.slots,
            busy=self._busy,
            time=time.time(),
        )
        return [info]

    def run(self, jobs: list[Job]) -> None:
        self._busy += 1
        task = asyncio.create_task(self._run(jobs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _progress(self, progress: StepProgress) -> None:
        """Called from the engine thread: hop onto the loop."""
        assert self._loop is not None and self._sink is not None
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._sink.on_progress, progress)

    def _is_cancelled(self, job_id: str) -> bool:
        return self._closing or job_id in self._cancelled

    async def _run(self, jobs: list[Job]) -> None:
        assert self._loop is not None and self._sink is not None
        call = partial(
            run_isolated,
            self.engine,
            [job.request for job in jobs],
            self._progress,
            self._is_cancelled,
        )
        try:
            outcomes = await self._loop.run_in_executor(self._pool, call)
            for job in jobs:
                outcome = outcomes[job.id]
                if isinstance(outcome, str):
                    await self._sink.on_result(job.id, None, outcome)
                else:
                    await self._sink.on_result(job.id, outcome)
        finally:
            self._busy -= 1
            for job in jobs:
                self._cancelled.discard(job.id)
            self._sink.wake()


Outcome = GenerationResult | str
"""A job's result, or the reason it failed."""


def run_isolated(
    engine: ImageEngine,
    requests: list[GenerationRequest],
    on_progress: ProgressCallback | None,
    is_cancelled: CancelCheck | None,
) -> dict[str, Outcome]:
    """One engine call for the batch; if it raises, each request alone, so one bad job fails
    by itself and the others still get their images. Blocking: run it off the loop.
    """
    try:
        results = engine.generate(requests, on_progress=on_progress, is_cancelled=is_cancelled)
    except Exception as exc:
        log.warning("engine failed on a batch of %d: %s", len(requests), exc)
        if len(requests) == 1:
            return {requests[0].request_id: f"{type(exc).__name__}: {exc}"}
        outcomes: dict[str, Outcome] = {}
        for request in requests:
            outcomes.update(run_isolated(engine, [request], on_progress, is_cancelled))
        return outcomes
    by_id: dict[str, Outcome] = {result.request_id: result for result in results}
    for request in requests:
        by_id.setdefault(request.request_id, "the engine returned no result for this job")
    return by_id
