"""Scale-out over Redis Streams: the bot keeps the fair order, GPU workers run the batches.

Keys under ``<prefix>:`` (``stream_prefix``):
- ``jobs:<model>``: a stream per model; workers read it in the consumer group ``workers`` and
  acknowledge a batch only after its results are out, so a killed worker's batch is taken by
  another once its claim and its worker's heartbeat are older than ``reclaim_after_seconds``
  (at-least-once; see ``worker``).
- ``results``: a stream the bot reads in the group ``dispatchers``; each entry names a job and
  where its result lies: a key ``result:<job id>`` with a TTL, or a file in a shared folder, so
  PNG bytes never sit in a stream. The service drops duplicates by job id.
- ``progress``: a capped stream of step reports (lossy by design).
- ``cancel:<job id>``: set by the bot, polled by the worker running the job.
- ``workers``: a hash of heartbeats (name, models, device, capacity, busy, time).

The bot releases a batch only when a live worker serving its model has an idle slot. While
Redis is unreachable every loop here backs off and retries; the service keeps answering and jobs
wait in the queue. A Redis that comes back empty (restarted without persistence: a new run id, a
missing stream or group) has lost the batches in flight: the bot re-creates the groups and sends
again each batch whose entry is gone (a batch that still finishes elsewhere is dropped as a
duplicate by the service).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError, ResponseError

from generation.config import QueueConfig
from generation.queue.jobs import Job, WorkerInfo
from generation.queue.service import BackendSink
from generation.requests import GenerationRequest, GenerationResult, StepProgress

log = logging.getLogger(__name__)

WORKER_GROUP = "workers"
RESULT_GROUP = "dispatchers"
PROGRESS_MAXLEN = 2000


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.results = f"{prefix}:results"
        self.progress = f"{prefix}:progress"
        self.workers = f"{prefix}:workers"

    def jobs(self, model: str) -> str:
        return f"{self.prefix}:jobs:{model}"

    def result(self, job_id: str) -> str:
        return f"{self.prefix}:result:{job_id}"

    def cancel(self, job_id: str) -> str:
        return f"{self.prefix}:cancel:{job_id}"


class BatchMessage(BaseModel):
    batch_id: str
    requests: list[GenerationRequest]


def connect(url: str) -> Any:
    """An asyncio client with str replies. Typed ``Any``: redis-py's stubs type every reply as
    ``Awaitable[...] | ...`` unions that would need a cast at each call.
    """
    return aioredis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, health_check_interval=10
    )


async def ensure_group(client: Any, stream: str, group: str) -> None:
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def retrying(
    what: str, action: Callable[[], Awaitable[None]], max_backoff: float, stop: asyncio.Event
) -> None:
    """Run ``action`` until it succeeds (or ``stop``), backing off 0.1 s → ``max_backoff``."""
    delay = 0.1
    while not stop.is_set():
        try:
            await action()
            return
        except (RedisError, OSError) as exc:
            log.warning("redis: %s failed (%s); retrying in %.1f s", what, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, max_backoff)


@dataclass
class _InFlight:
    model: str
    pending: set[str]
    message: BatchMessage
    entry_id: str | None = None
    """The batch's stream entry, once sent."""
    run_id: str | None = None
    """The Redis run the entry was written to (a restarted Redis has a new one)."""


class RedisBackend:
    """The bot side: hands batches to workers and turns their results back into events."""

    def __init__(self, config: QueueConfig, consumer: str = "bot") -> None:
        assert config.redis_url is not None
        self.config = config
        self.keys = Keys(config.stream_prefix)
        self.consumer = consumer
        self.client = connect(config.redis_url)
        self._workers: dict[str, WorkerInfo] = {}
        self._inflight: dict[str, _InFlight] = {}
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sink: BackendSink | None = None
        self.run_id: str | None = None
        """The Redis server's run id as last seen (it changes when Redis restarts)."""
        self.resent = 0
        """Batches sent again because Redis lost them."""
        self._suspect = asyncio.Event()

    async def start(self, sink: BackendSink) -> None:
        self._sink = sink
        for loop in (
            self._watch_workers,
            self._read_results,
            self._read_progress,
            self._watch_redis,
        ):
            self._spawn(loop())

    async def close(self) -> None:
        self._stop.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- slots ------------------------------------------------------------------------------

    def capacity(self) -> int:
        return sum(w.capacity for w in self._workers.values())

    def free_slots(self, model: str) -> int:
        serving = sum(w.capacity for w in self._workers.values() if model in w.models)
        busy_model = sum(1 for f in self._inflight.values() if f.model == model)
        return min(serving - busy_model, self.capacity() - len(self._inflight))

    def workers(self) -> list[WorkerInfo]:
        return list(self._workers.values())

    async def _watch_workers(self) -> None:
        """Refresh the live workers; with Redis down none are live, so no batch is released."""
        while not self._stop.is_set():
            try:
                raw = await self.client.hgetall(self.keys.workers)
                now = time.time()
                beats = [WorkerInfo.model_validate_json(v) for v in raw.values()]
                timeout = self.config.worker_timeout_seconds
                live = {b.name: b for b in beats if now - b.time < timeout}
                gone = [b.name for b in beats if now - b.time > 10 * timeout]
                if gone:
                    await self.client.hdel(self.keys.workers, *gone)
                joined = live.keys() - self._workers.keys()
                self._workers = live
                if joined and self._sink is not None:
                    self._sink.wake()
            except (RedisError, OSError) as exc:
                if self._workers:
                    log.warning("redis: cannot see workers (%s); holding jobs back", exc)
                self._workers = {}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.config.heartbeat_seconds / 2)

    # --- dispatch and cancel ----------------------------------------------------------------

    def run(self, jobs: list[Job]) -> None:
        batch_id = uuid.uuid4().hex
        model = jobs[0].request.model
        message = BatchMessage(batch_id=batch_id, requests=[job.request for job in jobs])
        flight = _InFlight(model, {job.id for job in jobs}, message)
        self._inflight[batch_id] = flight
        self._send(flight)

    def _send(self, flight: _InFlight) -> None:
        async def send() -> None:
            run_id = await self._server_run_id()
            flight.entry_id = await self.client.xadd(
                self.keys.jobs(flight.model), {"batch": flight.message.model_dump_json()}
            )
            flight.run_id = run_id

        self._spawn(retrying("sending a batch", send, self._backoff, self._stop))

    def cancel(self, job_id: str) -> None:
        async def flag() -> None:
            await self.client.set(self.keys.cancel(job_id), "1", ex=self.config.result_ttl_seconds)

        self._spawn(retrying("cancelling", flag, self._backoff, self._stop))

    @property
    def _backoff(self) -> float:
        return self.config.redis_backoff_max_seconds

    # --- a Redis that lost its data -----------------------------------------------------------

    async def _server_run_id(self) -> str:
        info = await self.client.info("server")
        run_id = str(info["run_id"])
        if self.run_id is not None and run_id != self.run_id:
            log.warning("redis: the server restarted (run id %s → %s)", self.run_id, run_id)
            self._suspect.set()
        self.run_id = run_id
        return run_id

    async def _watch_redis(self) -> None:
        """Every half heartbeat (or at once after a NOGROUP): has Redis restarted and lost the
        batches in flight? Those whose entries are gone are sent again."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._suspect.wait(), self.config.heartbeat_seconds / 2)
            self._suspect.clear()
            try:
                await self._server_run_id()
                await self._resend_lost()
            except (RedisError, OSError) as exc:
                log.debug("redis: cannot check for lost batches (%s)", exc)
                if self._inflight:  # check again soon after Redis is back, not a beat later
                    await asyncio.sleep(0.2)
                    self._suspect.set()

    async def _resend_lost(self) -> None:
        """Send again each batch in flight whose entry Redis no longer has, when Redis lost
        data: a new run id since it was sent, or its stream gone (a finished batch's entry is
        deleted too, but its stream stays and the run id does not change)."""
        for flight in list(self._inflight.values()):
            if flight.entry_id is None:
                continue  # not sent yet: ``retrying`` sends it
            stream = self.keys.jobs(flight.model)
            restarted = flight.run_id != self.run_id
            if not restarted and await self.client.exists(stream):
                continue
            still = await self.client.xrange(stream, flight.entry_id, flight.entry_id)
            if still:
                flight.run_id = self.run_id  # kept by a persistent Redis
                continue
            log.warning(
                "redis: batch %s (%d jobs) was lost with Redis' data; sending it again",
                flight.message.batch_id,
                len(flight.pending),
            )
            flight.entry_id = None
            self.resent += 1
            self._send(flight)

    # --- results and progress ---------------------------------------------------------------

    async def _read_results(self) -> None:
        delay = 0.1
        ready = False
        # First re-read what this consumer received but never acknowledged: at start-up, and
        # after an error, which may have struck between reading an entry and acknowledging it.
        backlog = True
        while not self._stop.is_set():
            try:
                if not ready:
                    await ensure_group(self.client, self.keys.results, RESULT_GROUP)
                    ready = True
                reply = await self.client.xreadgroup(
                    RESULT_GROUP,
                    self.consumer,
                    {self.keys.results: "0" if backlog else ">"},
                    count=16,
                    block=None if backlog else 1000,
                )
                entries = reply[0][1] if reply else []
                if backlog and not entries:
                    backlog = False
                for entry_id, fields in entries:
                    await self._handle_result(fields)
                    await self.client.xack(self.keys.results, RESULT_GROUP, entry_id)
                    await self.client.xdel(self.keys.results, entry_id)
                delay = 0.1
            except (RedisError, OSError) as exc:
                log.warning("redis: reading results failed (%s); retrying in %.1f s", exc, delay)
                if "NOGROUP" in str(exc):  # the results stream or its group is gone
                    self._suspect.set()
                ready = False
                backlog = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, self._backoff)

    async def _handle_result(self, fields: dict[str, str]) -> None:
        assert self._sink is not None
        job_id = fields.get("job_id")
        if job_id is None:  # e.g. a worker of another version: nothing to deliver it to
            log.error("redis: dropping a result entry without a job id: %s", fields)
            return
        result: GenerationResult | None = None
        error = fields.get("error")
        if error is None:
            text = await self._fetch(job_id, fields)
            if text is None:
                error = "the worker's result expired before it was collected"
            else:
                try:
                    result = GenerationResult.model_validate_json(text)
                except ValidationError as exc:
                    log.error("redis: unreadable result for job %s: %s", job_id, exc)
                    error = "the worker's result could not be read (is it another version?)"
        await self._sink.on_result(job_id, result, error)
        await self._discard(job_id, fields)
        # Any batch holding the job is done with it: after a bot restart the result may come
        # from an older copy of the batch than the one this process sent.
        for batch_id, flight in list(self._inflight.items()):
            flight.pending.discard(job_id)
            if not flight.pending:
                del self._inflight[batch_id]
                self._sink.wake()

    async def _fetch(self, job_id: str, fields: dict[str, str]) -> str | None:
        if "path" in fields:
            path = Path(fields["path"])
            return await asyncio.to_thread(path.read_text) if path.exists() else None
        text: str | None = await self.client.get(self.keys.result(job_id))
        return text

    async def _discard(self, job_id: str, fields: dict[str, str]) -> None:
        if "path" in fields:
            Path(fields["path"]).unlink(missing_ok=True)
        else:
            await self.client.delete(self.keys.result(job_id))

    async def _read_progress(self) -> None:
        last = "$"
        delay = 0.1
        while not self._stop.is_set():
            try:
                reply = await self.client.xread({self.keys.progress: last}, count=64, block=1000)
                for _stream, entries in reply or []:
                    for entry_id, fields in entries:
                        last = entry_id
                        if self._sink is not None:
                            self._sink.on_progress(StepProgress.model_validate_json(fields["p"]))
                delay = 0.1
            except (RedisError, OSError) as exc:
                log.debug("redis: reading progress failed (%s)", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, self._backoff)
