"""The fair order: start-time fair queueing across users, weighted by priority class.

Each job gets a virtual start tag ``max(now, the user's last finish)`` and finish tag
``start + 1 / weight``; jobs run in order of start tag (then submission order). With equal weights
that is round-robin: a user with ten queued jobs delays a newcomer by at most one job. A heavier
class gets proportionally more turns, yet every tag keeps growing, so no class starves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from generation.queue.jobs import Job


@dataclass(slots=True)
class _Entry:
    job: Job
    start: float

    def key(self) -> tuple[float, int]:
        return (self.start, self.job.seq)


class FairScheduler:
    """The queued jobs in fair order; the service decides when to take the next batch."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._weights = dict(weights)
        self._entries: dict[str, _Entry] = {}
        self._last_finish: dict[str, float] = {}
        self._vtime = 0.0
        self._order: list[_Entry] | None = None

    def weight(self, priority: str) -> float:
        return self._weights.get(priority, self._weights["default"])

    def add(self, job: Job) -> None:
        start = max(self._vtime, self._last_finish.get(job.user_id, 0.0))
        self._last_finish[job.user_id] = start + 1.0 / self.weight(job.priority)
        self._entries[job.id] = _Entry(job, start)
        self._order = None

    def remove(self, job_id: str) -> Job | None:
        entry = self._entries.pop(job_id, None)
        self._order = None
        return None if entry is None else entry.job

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._entries

    def _sorted(self) -> list[_Entry]:
        if self._order is None:
            self._order = sorted(self._entries.values(), key=_Entry.key)
        return self._order

    def order(self) -> list[Job]:
        return [entry.job for entry in self._sorted()]

    def jobs(self) -> list[Job]:
        return [entry.job for entry in self._entries.values()]

    def next_batch(self, max_images: int, can_run: Callable[[str], bool]) -> list[Job]:
        """Take the first runnable job and fill its batch from the next ``max_images`` jobs.

        Only jobs within that window of the fair order may join, so batching lets nobody
        overtake by more than one batch. A job asking for more images than ``max_images``
        still runs, alone.
        """
        order = self._sorted()
        index = next((i for i, entry in enumerate(order) if can_run(entry.job.request.model)), None)
        if index is None:
            return []
        head = order[index].job
        key = head.request.batch_key()
        batch, images = [head], head.request.count
        for candidate in order[index + 1 : index + max_images]:
            request = candidate.job.request
            if request.batch_key() == key and images + request.count <= max_images:
                batch.append(candidate.job)
                images += request.count
        for job in batch:
            self._vtime = max(self._vtime, self._entries.pop(job.id).start)
        self._order = None
        return batch
