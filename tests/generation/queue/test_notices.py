from __future__ import annotations

import random

from generation.queue.notices import MAX_NOTICES, PositionNotices, milestones


def test_milestones_are_the_halvings_and_next_in_line() -> None:
    assert milestones(10_000) == [5000, 2500, 0]
    assert milestones(5) == [2, 1, 0]
    assert milestones(2) == [1, 0]
    assert milestones(1) == [0]
    assert milestones(0) == []


class Line:
    """A queue of ids whose places the notices watch: departures from anywhere, arrivals
    anywhere (newcomers with an earlier fair tag go ahead)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.departed = 0
        self.notices = PositionNotices()
        self.told: dict[str, list[int]] = {}
        self.next_id = 0

    def position(self, job_id: str) -> int | None:
        return self.ids.index(job_id) if job_id in self.ids else None

    def arrive(self, at: int | None = None) -> str:
        job_id = f"j{self.next_id}"
        self.next_id += 1
        self.ids.insert(len(self.ids) if at is None else at, job_id)
        place = self.ids.index(job_id)
        self.told[job_id] = [place]  # the submit's ticket
        self.notices.track(job_id, place, self.departed)
        return job_id

    def depart(self, index: int = 0) -> None:
        job_id = self.ids.pop(index)
        self.departed += 1
        self.notices.forget(job_id)
        for told, place in self.notices.due(self.departed, self.position):
            assert place == self.position(told)
            self.told[told].append(place)


def test_a_long_queue_draining_tells_each_job_at_most_four_places() -> None:
    line = Line()
    for _ in range(2000):
        line.arrive()
    while line.ids:
        line.depart()
    counts = [len(places) for places in line.told.values()]
    assert max(counts) == MAX_NOTICES
    last = line.told["j1999"]
    assert last == [1999, 999, 499, 0]  # first, halved, halved again, next in line


def test_with_arrivals_ahead_and_cancellations_each_job_is_still_told_at_most_four_times() -> None:
    rng = random.Random(7)
    line = Line()
    for _ in range(500):
        line.arrive()
    waiting_next: set[str] = set()
    for _round in range(3000):
        roll = rng.random()
        if roll < 0.4:
            line.arrive(rng.randrange(len(line.ids) + 1))
        elif line.ids:
            line.depart(0 if roll < 0.8 else rng.randrange(len(line.ids)))
        if line.ids:
            waiting_next.add(line.ids[0])
    assert max(len(places) for places in line.told.values()) <= MAX_NOTICES
    for places in line.told.values():
        assert places == sorted(places, reverse=True)  # only better places are told
    # A job that reached the head having started further back was told it was next.
    reached = [j for j in waiting_next if line.told[j][0] > 0]
    assert reached and all(line.told[j][-1] == 0 for j in reached)


def test_a_job_that_leaves_is_never_told_again() -> None:
    line = Line()
    ids = [line.arrive() for _ in range(10)]
    line.depart(ids.index(ids[9]))  # the last one is cancelled
    for _ in range(8):
        line.depart()
    assert line.told[ids[9]] == [9]
    assert len(line.notices) <= 1
