"""When a waiting job's new place is worth telling: a constant number of times, whatever the length.

Each "queued" event becomes an edit of a Discord message, so telling every waiting job its new
place after every batch costs O(n) edits per batch and O(n²) in all: a rate-limit storm with
thousands waiting. Instead a job is told its place when it has come a good way:

- when it is first queued (the submit's ticket, and the snapshot a listener gets),
- when its place has **halved** (at or below ⌊p₀/2⌋, p₀ being its first place),
- when it has **halved again** (at or below ⌊p₀/4⌋),
- when it is **next in line** (place 0).

So a listener hears at most ``MAX_NOTICES`` = 4 places over a job's wait (fewer when milestones
coincide for short queues, and when the job leaves before reaching them), with its ETA at that
moment. A place that grows (a newcomer with an earlier fair tag) is not told.

Finding who crossed a milestone costs no scan: a job's place drops by at most one per job that
leaves the queue, so a job at place p cannot reach milestone m before ``p - m`` more jobs have
left. Each job waits in a heap keyed by the departure count at which it could first have
crossed; only jobs popping out are looked up (O(log n) each), and those still short of the
milestone (newcomers went ahead) are pushed back with a new bound.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

MAX_NOTICES = 4
"""The first place, two halvings, next in line."""


def milestones(first: int) -> list[int]:
    """The places (descending) below the first one at which a job is told again."""
    return sorted({m for m in (first // 2, first // 4, 0) if m < first}, reverse=True)


class PositionNotices:
    """Per watched job: (milestones not yet crossed, descending; the ticket of its heap entry).
    Plain tuples of numbers, which the garbage collector does not track."""

    def __init__(self) -> None:
        self._watches: dict[str, tuple[tuple[int, ...], int]] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._tickets = 0

    def __len__(self) -> int:
        return len(self._watches)

    def track(self, job_id: str, position: int, departed: int) -> None:
        """Start watching a job told ``position`` when ``departed`` jobs had left the queue."""
        left = tuple(milestones(position))
        if not left:
            self._watches.pop(job_id, None)
            return
        self._tickets += 1
        self._watches[job_id] = (left, self._tickets)
        self._push(job_id, left, self._tickets, position, departed)

    def forget(self, job_id: str) -> None:
        """The job left the queue (its heap entry is dropped when it comes up)."""
        self._watches.pop(job_id, None)

    def due(self, departed: int, position_of: Callable[[str], int | None]) -> list[tuple[str, int]]:
        """The (job, place) pairs to tell now that ``departed`` jobs have left the queue."""
        told: list[tuple[str, int]] = []
        while self._heap and self._heap[0][0] <= departed:
            _bound, ticket, job_id = heapq.heappop(self._heap)
            watch = self._watches.get(job_id)
            if watch is None or watch[1] != ticket:
                continue
            position = position_of(job_id)
            if position is None:
                del self._watches[job_id]
                continue
            left = watch[0]
            if position <= left[0]:
                told.append((job_id, position))
                left = tuple(m for m in left if m < position)
                if not left:
                    del self._watches[job_id]
                    continue
                self._watches[job_id] = (left, ticket)
            self._push(job_id, left, ticket, position, departed)
        return told

    def _push(
        self, job_id: str, left: tuple[int, ...], ticket: int, position: int, departed: int
    ) -> None:
        heapq.heappush(self._heap, (departed + position - left[0], ticket, job_id))
