"""Lanes on the queue's fair scheduler: over 1,000 jobs the fast lane's weight holds within 5 %,
the round-robin holds inside each lane, and no member of either lane starves."""

from __future__ import annotations

from collections import Counter
from itertools import count, pairwise

from generation.config import QueueConfig
from generation.queue import Job
from generation.queue.fairness import FairScheduler
from generation.requests import GenerationRequest
from studio.quotas import LANE_PRIORITY, Lane

REQUEST = GenerationRequest(prompt="a boat", count=1)
_SEQ = count(1)


def queued(user: str, lane: Lane) -> Job:
    return Job(
        seq=next(_SEQ),
        guild_id="10",
        channel_id="100",
        user_id=user,
        priority=LANE_PRIORITY[lane],
        request=REQUEST,
    )


def run(scheduler: FairScheduler, jobs: int) -> list[str]:
    """The members served, in order, one job at a time."""
    served = []
    for _ in range(jobs):
        (job,) = scheduler.next_batch(1, lambda model: True)
        served.append(job.user_id)
    return served


def test_the_fast_lanes_weight_holds_and_nobody_starves_over_1000_jobs() -> None:
    weights = QueueConfig().priority_weights
    fast, relax = weights[LANE_PRIORITY["fast"]], weights[LANE_PRIORITY["relax"]]
    assert fast > relax
    members: dict[str, Lane] = {"f1": "fast", "f2": "fast", "r1": "relax", "r2": "relax"}
    members["r3"] = "relax"
    scheduler = FairScheduler(weights)
    for _ in range(1000):  # every member keeps a backlog longer than the run
        for user, lane in members.items():
            scheduler.add(queued(user, lane))
    served = run(scheduler, 1000)

    shares = Counter(served)
    total_weight = sum(fast if lane == "fast" else relax for lane in members.values())
    for user, lane in members.items():
        expected = 1000 * (fast if lane == "fast" else relax) / total_weight
        assert abs(shares[user] / expected - 1) < 0.05, (user, shares[user], expected)
    fast_jobs = sum(shares[u] for u, lane in members.items() if lane == "fast")
    relax_jobs = 1000 - fast_jobs
    assert abs((fast_jobs / relax_jobs) / (2 * fast / (3 * relax)) - 1) < 0.05

    # No starvation: every member is served again within one round of the weights.
    round_length = total_weight / relax
    for user in members:
        turns = [i for i, who in enumerate(served) if who == user]
        gaps = [b - a for a, b in pairwise(turns)]
        assert turns[0] < round_length and max(gaps) <= round_length + 1, user


def test_a_relax_newcomer_runs_soon_behind_a_long_fast_backlog() -> None:
    scheduler = FairScheduler(QueueConfig().priority_weights)
    for _ in range(500):
        scheduler.add(queued("patron", "fast"))
    run(scheduler, 100)  # the patron has been painting for a while
    scheduler.add(queued("newcomer", "relax"))
    served = run(scheduler, 5)
    assert "newcomer" in served[:2]
