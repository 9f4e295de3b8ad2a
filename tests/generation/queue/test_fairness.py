from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from generation.queue import Job
from generation.queue.fairness import FairScheduler
from tests.generation.queue.conftest import request

WEIGHTS = {"default": 1.0, "booster": 2.0}


def make(seq: int, user: str, priority: str = "default", **fields: object) -> Job:
    return Job(
        seq=seq,
        guild_id="g",
        channel_id="c",
        user_id=user,
        priority=priority,
        request=request(**fields),
    )


def drain(scheduler: FairScheduler, max_images: int = 1) -> list[Job]:
    taken: list[Job] = []
    while batch := scheduler.next_batch(max_images, lambda _model: True):
        taken.extend(batch)
    return taken


def test_a_user_with_ten_jobs_delays_a_newcomer_by_at_most_one_job() -> None:
    scheduler = FairScheduler(WEIGHTS)
    for seq in range(1, 11):
        scheduler.add(make(seq, "heavy"))
    scheduler.next_batch(1, lambda _m: True)  # the heavy user's first job is running
    light = make(11, "light")
    scheduler.add(light)
    assert [job.id for job in scheduler.order()].index(light.id) <= 1
    order = drain(scheduler)
    assert [j.user_id for j in order].index("light") <= 1


def test_round_robin_across_three_users() -> None:
    scheduler = FairScheduler(WEIGHTS)
    seq = 0
    for user in ("a", "b", "c"):
        for _ in range(3):
            seq += 1
            scheduler.add(make(seq, user))
    assert [j.user_id for j in drain(scheduler)] == ["a", "b", "c"] * 3


def test_a_heavier_class_gets_its_share_and_the_other_still_runs() -> None:
    scheduler = FairScheduler(WEIGHTS)
    seq = 0
    for _ in range(30):
        for user, priority in (("boosted", "booster"), ("plain", "default")):
            seq += 1
            scheduler.add(make(seq, user, priority))
    first_30 = Counter(j.user_id for j in drain(scheduler)[:30])
    assert first_30 == {"boosted": 20, "plain": 10}


def test_batches_fill_only_from_the_next_window_of_the_fair_order() -> None:
    scheduler = FairScheduler(WEIGHTS)
    jobs = [
        make(1, "a"),
        make(2, "b", width=128),
        make(3, "c"),
        make(4, "d", width=128),
        make(5, "e"),
        make(6, "f"),
    ]
    for j in jobs:
        scheduler.add(j)
    batch = scheduler.next_batch(3, lambda _m: True)
    # Window of 3: a, b, c; b is incompatible; e is compatible but outside the window.
    assert [j.user_id for j in batch] == ["a", "c"]
    assert [j.user_id for j in scheduler.order()] == ["b", "d", "e", "f"]


def test_a_job_for_a_model_without_a_free_slot_waits_while_others_run() -> None:
    scheduler = FairScheduler(WEIGHTS)
    scheduler.add(make(1, "a", model="big"))
    scheduler.add(make(2, "b"))
    batch = scheduler.next_batch(4, lambda model: model != "big")
    assert [j.user_id for j in batch] == ["b"]
    assert [j.user_id for j in scheduler.order()] == ["a"]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["add", "add", "remove", "batch"]),
            st.integers(0, 4),  # user
            st.sampled_from([64, 128]),  # width: two shapes
            st.integers(0, 50),  # which job to remove
        ),
        max_size=60,
    )
)
def test_places_counts_and_listings_agree_with_the_fair_order(
    steps: list[tuple[str, int, int, int]],
) -> None:
    """What the bot asks (a place, a member's jobs, a guild's count) without a scan must equal
    what a scan of the fair order says, after any mix of arrivals, cancels and batches."""
    scheduler = FairScheduler(WEIGHTS)
    seq = 0
    for action, user, width, pick in steps:
        if action == "add":
            seq += 1
            priority = "booster" if user == 4 else "default"
            job = make(seq, f"u{user}", priority, width=width)
            job.guild_id = f"g{user % 2}"
            scheduler.add(job)
        elif action == "remove" and len(scheduler):
            scheduler.remove(scheduler.order()[pick % len(scheduler)].id)
        elif action == "batch":
            scheduler.next_batch(3, lambda _m: True)
        order = scheduler.order()
        assert len(scheduler) == len(order)
        for place, job in enumerate(order):
            assert scheduler.position(job.id) == place
            assert sum(n for _shape, n in scheduler.ahead_by_shape(job.id)) == place
        for u in range(5):
            mine = [j.id for j in order if j.user_id == f"u{u}"]
            assert [j.id for j in scheduler.jobs_of_user(f"u{u}")] == mine
            assert scheduler.count_of_user(f"u{u}") == len(mine)
        for g in ("g0", "g1"):
            assert scheduler.count_of_guild(g) == sum(j.guild_id == g for j in order)
