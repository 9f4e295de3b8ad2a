"""Prometheus metrics of the queue, on their own registry and port (off unless a port is set)."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class QueueMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_length = Gauge(
            "muralist_queue_length", "Queued jobs per guild.", ["guild"], registry=self.registry
        )
        self.job_seconds = Histogram(
            "muralist_job_seconds",
            "Seconds from submit to a final state.",
            ["status"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "muralist_batch_images",
            "Images per engine call.",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16),
            registry=self.registry,
        )
        self.steps_per_second = Gauge(
            "muralist_steps_per_second",
            "Denoising steps per second of the last batch.",
            registry=self.registry,
        )
        self.failures = Counter(
            "muralist_job_failures", "Jobs that failed.", registry=self.registry
        )
        self.workers_alive = Gauge(
            "muralist_workers_alive",
            "GPU workers with a recent heartbeat.",
            registry=self.registry,
        )
        self._server: WSGIServer | None = None

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` over HTTP from a daemon thread."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set_queue_length(self, guild: str, length: int) -> None:
        """One guild's queue length (the service sets the guilds whose queue changed)."""
        self.queue_length.labels(guild=guild).set(length)

    def observe_job(self, status: str, seconds: float) -> None:
        self.job_seconds.labels(status=status).observe(seconds)
        if status == "failed":
            self.failures.inc()

    def observe_batch(self, images: int) -> None:
        self.batch_size.observe(images)

    def observe_steps(self, steps: int, seconds: float) -> None:
        if seconds > 0:
            self.steps_per_second.set(steps / seconds)
