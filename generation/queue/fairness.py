"""The fair order: start-time fair queueing across users, weighted by priority class.

Each job gets a virtual start tag ``max(now, the user's last finish)`` and finish tag
``start + 1 / weight``; jobs run in order of start tag (then submission order). With equal weights
that is round-robin: a user with ten queued jobs delays a newcomer by at most one job. A heavier
class gets proportionally more turns, yet every tag keeps growing, so no class starves.

A job's tags never change while it waits, so the order is a sorted list of keys
(``sortedcontainers``): adding, removing and finding a job's place cost O(log n) at 10,000 jobs.
The same keys are also kept per model (the head a free slot may take), per user and per guild
(counts and listings for the limits, ``/queue`` and ``/cancel``) and per shape (how much work of
each kind waits ahead of a job, for its ETA), so nothing asks for a scan of the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Generic, TypeVar

from sortedcontainers import SortedList

from generation.queue.jobs import Job

Key = tuple[float, int, str]
"""A job's place in the fair order: (start tag, submission order, job id)."""

G = TypeVar("G", bound=Hashable)


class _Groups(Generic[G]):
    """The queued keys grouped by one attribute, each group in fair order."""

    def __init__(self) -> None:
        self._groups: dict[G, SortedList] = {}

    def add(self, group: G, key: Key) -> None:
        keys = self._groups.get(group)
        if keys is None:
            keys = self._groups[group] = SortedList()
        keys.add(key)

    def remove(self, group: G, key: Key) -> None:
        keys = self._groups[group]
        keys.remove(key)
        if not keys:
            del self._groups[group]

    def count(self, group: G) -> int:
        keys = self._groups.get(group)
        return 0 if keys is None else len(keys)

    def keys(self, group: G) -> list[Key]:
        return list(self._groups.get(group, ()))

    def first(self, group: G) -> Key | None:
        keys = self._groups.get(group)
        return keys[0] if keys else None

    def ahead(self, key: Key) -> Iterator[tuple[G, int]]:
        """Per group, how many of its keys come before ``key``."""
        for group, keys in self._groups.items():
            before = keys.bisect_left(key)
            if before:
                yield group, before

    def counts(self) -> dict[G, int]:
        return {group: len(keys) for group, keys in self._groups.items()}

    def heads(self) -> Iterator[tuple[G, Key]]:
        for group, keys in self._groups.items():
            yield group, keys[0]


class FairScheduler:
    """The queued jobs in fair order; the service decides when to take the next batch.

    ``shape`` names a job's kind of work (the service uses the ETA estimator's key); the
    scheduler only groups by it.
    """

    def __init__(
        self,
        weights: Mapping[str, float],
        shape: Callable[[Job], Hashable] = lambda job: job.request.batch_key(),
    ) -> None:
        self._weights = dict(weights)
        self._shape = shape
        self._order = SortedList()
        self._jobs: dict[str, tuple[Key, Job]] = {}
        self._last_finish: dict[str, float] = {}
        self._vtime = 0.0
        self._models: _Groups[str] = _Groups()
        self._users: _Groups[str] = _Groups()
        self._guilds: _Groups[str] = _Groups()
        self._shapes: _Groups[Hashable] = _Groups()
        self.removed = 0
        """Jobs that have left the queue so far (taken or removed): a job's place can only
        have improved by at most this much since it was last looked up."""

    def weight(self, priority: str) -> float:
        return self._weights.get(priority, self._weights["default"])

    def add(self, job: Job) -> None:
        start = max(self._vtime, self._last_finish.get(job.user_id, 0.0))
        self._last_finish[job.user_id] = start + 1.0 / self.weight(job.priority)
        key: Key = (start, job.seq, job.id)
        self._jobs[job.id] = (key, job)
        self._order.add(key)
        self._models.add(job.request.model, key)
        self._users.add(job.user_id, key)
        self._guilds.add(job.guild_id, key)
        self._shapes.add(self._shape(job), key)

    def remove(self, job_id: str) -> Job | None:
        found = self._jobs.pop(job_id, None)
        if found is None:
            return None
        key, job = found
        self._order.remove(key)
        self._models.remove(job.request.model, key)
        self._users.remove(job.user_id, key)
        self._guilds.remove(job.guild_id, key)
        self._shapes.remove(self._shape(job), key)
        self.removed += 1
        return job

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: str) -> Job | None:
        found = self._jobs.get(job_id)
        return None if found is None else found[1]

    def position(self, job_id: str) -> int | None:
        """Jobs ahead of this one in the fair order (0: next); None when it is not queued."""
        found = self._jobs.get(job_id)
        return None if found is None else self._order.index(found[0])

    def ahead_by_shape(self, job_id: str) -> Iterator[tuple[Hashable, int]]:
        """For each shape, how many queued jobs of that shape come before this one."""
        found = self._jobs.get(job_id)
        if found is not None:
            yield from self._shapes.ahead(found[0])

    def order(self) -> list[Job]:
        """Every queued job in fair order: O(n), for tests and tools, not for the bot's calls."""
        return [self._jobs[key[2]][1] for key in self._order]

    def jobs(self) -> list[Job]:
        return [job for _key, job in self._jobs.values()]

    def first(self) -> Job | None:
        return self._jobs[self._order[0][2]][1] if self._order else None

    # --- per user and per guild -------------------------------------------------------------

    def count_of_user(self, user_id: str) -> int:
        return self._users.count(user_id)

    def count_of_guild(self, guild_id: str) -> int:
        return self._guilds.count(guild_id)

    def jobs_of_user(self, user_id: str) -> list[Job]:
        """The user's queued jobs in fair order (their next first)."""
        return [self._jobs[key[2]][1] for key in self._users.keys(user_id)]

    def first_of_user(self, user_id: str) -> Job | None:
        key = self._users.first(user_id)
        return None if key is None else self._jobs[key[2]][1]

    def first_of_guild(self, guild_id: str) -> Job | None:
        key = self._guilds.first(guild_id)
        return None if key is None else self._jobs[key[2]][1]

    def guild_counts(self) -> dict[str, int]:
        return self._guilds.counts()

    # --- batches ----------------------------------------------------------------------------

    def peek_batch(self, max_images: int, can_run: Callable[[str], bool]) -> list[Job]:
        """The batch ``next_batch`` would take, left in the queue.

        The first job whose model can run now, filled from the next ``max_images`` jobs of
        the fair order: only jobs within that window may join, so batching lets nobody
        overtake by more than one batch. A job asking for more images than ``max_images``
        still runs, alone.
        """
        heads = [key for model, key in self._models.heads() if can_run(model)]
        if not heads:
            return []
        first = min(heads)
        head = self._jobs[first[2]][1]
        index = self._order.index(first)
        key = head.request.batch_key()
        batch, images = [head], head.request.count
        for candidate_key in self._order.islice(index + 1, index + max_images):
            candidate = self._jobs[candidate_key[2]][1]
            request = candidate.request
            if request.batch_key() == key and images + request.count <= max_images:
                batch.append(candidate)
                images += request.count
        return batch

    def take(self, batch: list[Job]) -> None:
        """Remove a batch that ``peek_batch`` returned: it is running now."""
        for job in batch:
            key = self._jobs[job.id][0]
            self.remove(job.id)
            self._vtime = max(self._vtime, key[0])

    def next_batch(self, max_images: int, can_run: Callable[[str], bool]) -> list[Job]:
        """Take the next batch (see ``peek_batch``)."""
        batch = self.peek_batch(max_images, can_run)
        self.take(batch)
        return batch
