"""Wiring from settings: the embedded default (one process) or Redis workers, plus metrics."""

from __future__ import annotations

from generation.config import QueueConfig
from generation.engine_api import ImageEngine
from generation.errors import InvalidRequest
from generation.queue.service import Backend, QueueService
from generation.queue.store import JobStore


def open_queue(config: QueueConfig, engine: ImageEngine | None) -> QueueService:
    """The queue service for these settings; call ``await service.start()`` on the bot's loop.

    Without ``redis_url`` the engine runs in this process (it must be given); with it, batches
    go to ``muralist worker`` processes and ``engine`` is not used.
    """
    store = JobStore(config.db_path, config.images_dir)
    backend: Backend
    if config.redis_url:
        from generation.queue.redis_transport import RedisBackend

        backend = RedisBackend(config)
    elif engine is None:
        raise InvalidRequest("redis_url", "no engine in this process and no Redis for workers")
    else:
        from generation.queue.runner import InProcessRunner

        # The diffusers engine knows its device; an engine that does not say shows as "local".
        device = getattr(engine, "device", "local")
        backend = InProcessRunner(engine, config.local_slots, device=str(device))
    metrics = None
    if config.metrics_port is not None:
        from generation.queue.metrics import QueueMetrics

        metrics = QueueMetrics()
        metrics.workers_alive.set_function(lambda: len(backend.workers()))
        metrics.serve(config.metrics_port, config.metrics_host)
    return QueueService(config, store, backend, metrics=metrics)
