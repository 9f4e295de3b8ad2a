"""A GPU worker: takes batches from Redis, runs the engine in a thread, sends results back.

Heavy resources (the engine and its pipelines) are created once by the caller; the worker only
moves batches. A batch is acknowledged after all of its results are out, and while it runs the
worker renews its claim every heartbeat. A batch whose claim is older than
``reclaim_after_seconds`` (two heartbeats by default) and whose worker's heartbeat is as old is a
dead worker's: another worker takes it. A slow worker renews its claim and beats, so nobody takes
its batch. An engine error fails that job only (see ``run_isolated``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from pathlib import Path

from redis.exceptions import RedisError

from generation.config import QueueConfig
from generation.engine_api import ImageEngine
from generation.errors import InvalidRequest
from generation.queue.jobs import WorkerInfo
from generation.queue.redis_transport import (
    PROGRESS_MAXLEN,
    WORKER_GROUP,
    BatchMessage,
    Keys,
    connect,
    ensure_group,
)
from generation.queue.runner import Outcome, run_isolated
from generation.requests import GenerationResult, StepProgress

log = logging.getLogger(__name__)


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class RedisWorker:
    def __init__(
        self,
        config: QueueConfig,
        engine: ImageEngine,
        *,
        name: str | None = None,
        models: list[str],
        device: str = "cpu",
        capacity: int = 1,
    ) -> None:
        if config.redis_url is None:
            raise InvalidRequest("redis_url", "a worker needs MURALIST_QUEUE__REDIS_URL")
        self.config = config
        self.engine = engine
        self.name = name or default_name()
        self.models = models
        self.device = device
        self.capacity = capacity
        self.keys = Keys(config.stream_prefix)
        self.client = connect(config.redis_url)
        self.busy = 0
        self.done = 0
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(capacity)
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """Finish the batches in hand, then return from ``run``."""
        self._stop.set()

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat())
        delay = 0.1
        outage = False
        try:
            while not self._stop.is_set():
                try:
                    for model in self.models:
                        await ensure_group(self.client, self.keys.jobs(model), WORKER_GROUP)
                    if outage:  # back: say so now (a restarted Redis lost the heartbeats)
                        await self._beat()
                        outage = False
                    await self._take()
                    delay = 0.1
                except (RedisError, OSError) as exc:
                    outage = True
                    log.warning("worker %s: redis unreachable (%s); retrying", self.name, exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                    delay = min(delay * 2, self.config.redis_backoff_max_seconds)
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(RedisError, OSError):
                await self.client.hdel(self.keys.workers, self.name)
            await self.client.aclose()

    async def _take(self) -> None:
        """Wait for a free slot, then take one batch: a dead worker's first, else a new one."""
        await self._slots.acquire()
        if self._stop.is_set():
            self._slots.release()
            return
        try:
            message = await self._claim_abandoned() or await self._read_new()
        except BaseException:
            self._slots.release()
            raise
        if message is None:
            self._slots.release()
            return
        task = asyncio.create_task(self._process(*message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _claim_abandoned(self) -> tuple[str, str, dict[str, str]] | None:
        """A batch whose worker is dead: its claim and its worker's heartbeat both older than
        ``reclaim_after_seconds`` (XCLAIM with that idle time, so two workers never both get
        it)."""
        after = self.config.reclaim_after_seconds
        idle_ms = int(after * 1000)
        beats: dict[str, str] | None = None
        for model in self.models:
            stream = self.keys.jobs(model)
            stale = await self.client.xpending_range(
                stream, WORKER_GROUP, min="-", max="+", count=16, idle=idle_ms
            )
            for entry in stale:
                owner = entry["consumer"]
                if beats is None:
                    beats = await self.client.hgetall(self.keys.workers)
                if owner != self.name and _alive(beats.get(owner), after):
                    continue  # slow, not dead: it still beats
                claimed = await self.client.xclaim(
                    stream, WORKER_GROUP, self.name, idle_ms, [entry["message_id"]]
                )
                for entry_id, fields in claimed:
                    if not fields:  # deleted meanwhile: nothing left to run
                        await self.client.xack(stream, WORKER_GROUP, entry_id)
                        continue
                    log.info("worker %s: took batch %s of silent %s", self.name, entry_id, owner)
                    return stream, entry_id, fields
        return None

    async def _read_new(self) -> tuple[str, str, dict[str, str]] | None:
        streams = {self.keys.jobs(model): ">" for model in self.models}
        block = int(min(1.0, self.config.reclaim_after_seconds / 4) * 1000)
        reply = await self.client.xreadgroup(
            WORKER_GROUP, self.name, streams, count=1, block=max(block, 1)
        )
        for stream, entries in reply or []:
            for entry_id, fields in entries:
                return stream, entry_id, fields
        return None

    async def _process(self, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        self.busy += 1
        keepalive = asyncio.create_task(self._keep_claimed(stream, entry_id))
        message: BatchMessage | None = None
        try:
            message = BatchMessage.model_validate_json(fields["batch"])
            outcomes = await self._generate(message)
            for job_id, outcome in outcomes.items():
                await self._send(job_id, message.batch_id, outcome)
            await self.client.xack(stream, WORKER_GROUP, entry_id)
            await self.client.xdel(stream, entry_id)
            self.done += 1
        except (RedisError, OSError) as exc:
            # Left pending: another worker (or this one) runs it again once it looks abandoned.
            log.warning("worker %s: lost redis during batch %s (%s)", self.name, entry_id, exc)
        except Exception as exc:
            log.exception("worker %s: cannot handle batch %s; dropping it", self.name, entry_id)
            with contextlib.suppress(RedisError, OSError):
                # Its jobs fail with the reason, so nobody waits for a result that never comes.
                if message is not None:
                    reason = f"worker {self.name} could not run it: {type(exc).__name__}: {exc}"
                    for request in message.requests:
                        await self._send(request.request_id, message.batch_id, reason)
                await self.client.xack(stream, WORKER_GROUP, entry_id)
        finally:
            keepalive.cancel()
            self.busy -= 1
            self._slots.release()

    async def _generate(self, message: BatchMessage) -> dict[str, Outcome]:
        loop = asyncio.get_running_loop()
        ids = [r.request_id for r in message.requests]
        cancelled: set[str] = set()

        async def poll_cancels() -> None:
            while True:
                with contextlib.suppress(RedisError, OSError):  # a lost poll: the next one
                    flags = await self.client.mget([self.keys.cancel(i) for i in ids])
                    cancelled.update(i for i, flag in zip(ids, flags, strict=True) if flag)
                await asyncio.sleep(0.2)

        def progress(report: StepProgress) -> None:  # engine thread → loop, fire and forget
            asyncio.run_coroutine_threadsafe(
                self.client.xadd(
                    self.keys.progress,
                    {"p": report.model_dump_json()},
                    maxlen=PROGRESS_MAXLEN,
                    approximate=True,
                ),
                loop,
            )

        poller = asyncio.create_task(poll_cancels())
        try:
            return await asyncio.to_thread(
                run_isolated, self.engine, message.requests, progress, cancelled.__contains__
            )
        finally:
            poller.cancel()

    async def _send(self, job_id: str, batch_id: str, outcome: Outcome) -> None:
        fields = {"job_id": job_id, "batch": batch_id}
        if isinstance(outcome, str):
            fields["error"] = outcome
        elif self.config.result_transport == "folder":
            assert self.config.result_dir is not None
            try:
                path = await asyncio.to_thread(
                    _write_atomic, self.config.result_dir, job_id, outcome
                )
            except OSError as exc:  # disk full, folder gone: the job fails, not the batch again
                fields["error"] = f"the worker could not save the images: {exc}"
            else:
                fields["path"] = str(path)
        else:
            await self.client.set(
                self.keys.result(job_id),
                outcome.model_dump_json(),
                ex=self.config.result_ttl_seconds,
            )
        await self.client.xadd(self.keys.results, fields)

    async def _keep_claimed(self, stream: str, entry_id: str) -> None:
        """Reset the batch's idle time while this worker is alive, so nobody reclaims it."""
        every = min(self.config.heartbeat_seconds, self.config.reclaim_after_seconds / 3)
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(RedisError, OSError):
                await self.client.xclaim(
                    stream, WORKER_GROUP, self.name, 0, [entry_id], justid=True
                )

    async def _heartbeat(self) -> None:
        while True:
            with contextlib.suppress(RedisError, OSError):
                await self._beat()
            await asyncio.sleep(self.config.heartbeat_seconds)

    async def _beat(self) -> None:
        beat = WorkerInfo(
            name=self.name,
            models=self.models,
            device=self.device,
            capacity=self.capacity,
            busy=self.busy,
            time=time.time(),
        )
        await self.client.hset(self.keys.workers, self.name, beat.model_dump_json())


def _alive(beat: str | None, within: float) -> bool:
    """Whether a heartbeat (``WorkerInfo`` JSON) is younger than ``within`` seconds."""
    if beat is None:
        return False
    try:
        return time.time() - WorkerInfo.model_validate_json(beat).time < within
    except ValueError:
        return False


def _write_atomic(folder: Path, job_id: str, outcome: GenerationResult) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job_id}.json"
    partial = folder / f".{job_id}.part"
    partial.write_text(outcome.model_dump_json(), encoding="utf-8")
    os.replace(partial, path)
    return path
