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

A waiting job is kept as its JSON and the few plain values the order needs, not as a tree of
pydantic objects: ten thousand waiting jobs then add some ten thousand objects to what each full
garbage collection walks, not the 130,000 that ten thousand ``Job`` models are. A job is rebuilt
from its JSON only when it leaves (a batch) or a member lists their own jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
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


@dataclass(slots=True, frozen=True)
class _Entry:
    """A waiting job: its place, what the indexes and batching read, and the job as JSON."""

    key: Key
    model: str
    user_id: str
    guild_id: str
    shape: Hashable
    batch_key: tuple[object, ...]
    count: int
    payload: str

    def job(self) -> Job:
        return Job.model_validate_json(self.payload)


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
        self._jobs: dict[str, _Entry] = {}
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
        entry = _Entry(
            key=(start, job.seq, job.id),
            model=job.request.model,
            user_id=job.user_id,
            guild_id=job.guild_id,
            shape=self._shape(job),
            batch_key=job.request.batch_key(),
            count=job.request.count,
            payload=job.model_dump_json(),
        )
        self._jobs[job.id] = entry
        self._order.add(entry.key)
        self._models.add(entry.model, entry.key)
        self._users.add(entry.user_id, entry.key)
        self._guilds.add(entry.guild_id, entry.key)
        self._shapes.add(entry.shape, entry.key)

    def remove(self, job_id: str) -> Job | None:
        entry = self._remove(job_id)
        return None if entry is None else entry.job()

    def _remove(self, job_id: str) -> _Entry | None:
        entry = self._jobs.pop(job_id, None)
        if entry is None:
            return None
        self._order.remove(entry.key)
        self._models.remove(entry.model, entry.key)
        self._users.remove(entry.user_id, entry.key)
        self._guilds.remove(entry.guild_id, entry.key)
        self._shapes.remove(entry.shape, entry.key)
        self.removed += 1
        return entry

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: str) -> Job | None:
        entry = self._jobs.get(job_id)
        return None if entry is None else entry.job()

    def shape_of(self, job_id: str) -> Hashable | None:
        entry = self._jobs.get(job_id)
        return None if entry is None else entry.shape

    def position(self, job_id: str) -> int | None:
        """Jobs ahead of this one in the fair order (0: next); None when it is not queued."""
        entry = self._jobs.get(job_id)
        return None if entry is None else self._order.index(entry.key)

    def ahead_by_shape(self, job_id: str) -> Iterator[tuple[Hashable, int]]:
        """For each shape, how many queued jobs of that shape come before this one."""
        entry = self._jobs.get(job_id)
        if entry is not None:
            yield from self._shapes.ahead(entry.key)

    def order(self) -> list[Job]:
        """Every queued job in fair order: O(n), for tests and tools, not for the bot's calls."""
        return [self._jobs[key[2]].job() for key in self._order]

    def jobs(self) -> list[Job]:
        return [entry.job() for entry in self._jobs.values()]

    def first(self) -> str | None:
        """The id of the job at the head of the fair order."""
        return self._order[0][2] if self._order else None

    # --- per user and per guild -------------------------------------------------------------

    def count_of_user(self, user_id: str) -> int:
        return self._users.count(user_id)

    def count_of_guild(self, guild_id: str) -> int:
        return self._guilds.count(guild_id)

    def jobs_of_user(self, user_id: str) -> list[Job]:
        """The user's queued jobs in fair order (their next first)."""
        return [self._jobs[key[2]].job() for key in self._users.keys(user_id)]

    def first_of_user(self, user_id: str) -> str | None:
        """The id of the user's job that runs first."""
        key = self._users.first(user_id)
        return None if key is None else key[2]

    def first_of_guild(self, guild_id: str) -> str | None:
        key = self._guilds.first(guild_id)
        return None if key is None else key[2]

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
        head = self._jobs[first[2]]
        index = self._order.index(first)
        batch, images = [head], head.count
        for candidate_key in self._order.islice(index + 1, index + max_images):
            candidate = self._jobs[candidate_key[2]]
            if candidate.batch_key == head.batch_key and images + candidate.count <= max_images:
                batch.append(candidate)
                images += candidate.count
        return [entry.job() for entry in batch]

    def take(self, batch: list[Job]) -> None:
        """Remove a batch that ``peek_batch`` returned: it is running now."""
        for job in batch:
            entry = self._remove(job.id)
            assert entry is not None
            self._vtime = max(self._vtime, entry.key[0])

    def next_batch(self, max_images: int, can_run: Callable[[str], bool]) -> list[Job]:
        """Take the next batch (see ``peek_batch``)."""
        batch = self.peek_batch(max_images, can_run)
        self.take(batch)
        return batch
