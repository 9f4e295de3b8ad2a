"""The queue at scale, in counts: position events per job, batches across members, listings."""

from __future__ import annotations

import asyncio
from pathlib import Path

from generation.queue import JobStatus, JobStore, QueueEvent, QueueService
from generation.queue.notices import MAX_NOTICES
from generation.queue.runner import InProcessRunner
from tests.generation.queue.conftest import queue_config
from tests.generation.queue.fakes import FakeEngine
from tests.generation.queue.test_service import follow, submit


async def started_service(tmp_path: Path, engine: FakeEngine, **fields: object) -> QueueService:
    config = queue_config(tmp_path, **fields)
    queue = QueueService(
        config, JobStore(config.db_path, config.images_dir), InProcessRunner(engine)
    )
    await queue.start()
    return queue


async def test_each_waiting_job_hears_its_place_at_most_four_times_however_long_the_queue(
    tmp_path: Path,
) -> None:
    """300 jobs drain in batches of 8: before, each batch told every waiting job its place
    (a job at the back heard it about 38 times, each a Discord edit); now at most 4 times."""
    queue = await started_service(tmp_path, FakeEngine(), per_guild_cap=1000, global_cap=1000)
    try:
        tickets = [await submit(queue, f"u{i % 30}", seed=i) for i in range(300)]
        events = await asyncio.gather(*(follow(queue, t.job_id) for t in tickets))
    finally:
        await queue.close()
    told = [[e.position for e in job if e.kind == "queued"] for job in events]
    assert all(job[-1].kind == "done" for job in events)
    assert max(len(places) for places in told) <= MAX_NOTICES
    assert all(places == sorted(places, reverse=True) for places in told)  # better places only
    back = told[-1]  # the last job queued started far back and heard it come forward
    assert len(back) >= 3 and back[0] > 200 and back[-1] < back[0] // 4 + 8


async def test_same_shape_jobs_of_different_members_share_one_call_by_default(
    tmp_path: Path,
) -> None:
    """The default count is 4 and the default max batch 8: two members' requests of the same
    shape run as one engine call; a different shape waits its fair turn."""
    engine = FakeEngine(step_seconds=0.05)
    config = queue_config(tmp_path)
    assert config.max_batch == 8
    queue = QueueService(
        config, JobStore(config.db_path, config.images_dir), InProcessRunner(engine)
    )
    await queue.start()
    try:
        blocker = await submit(queue, "z", width=128)  # occupies the engine while we queue
        await asyncio.sleep(0.02)
        first = await submit(queue, "a", count=4, seed=1)
        other_shape = await submit(queue, "c", count=4, width=128)
        second = await submit(queue, "b", count=4, seed=2)
        for ticket in (blocker, first, other_shape, second):
            await follow(queue, ticket.job_id)
    finally:
        await queue.close()
    assert engine.calls == [
        [blocker.job_id],
        [first.job_id, second.job_id],
        [other_shape.job_id],
    ]


async def test_a_batch_window_lets_a_member_arriving_just_after_share_the_call(
    tmp_path: Path,
) -> None:
    engine = FakeEngine()
    queue = await started_service(tmp_path, engine, batch_window_seconds=5.0)
    try:
        first = await submit(queue, "a", count=4, seed=1)
        await asyncio.sleep(0.05)  # without a window the first would be running by now
        assert queue.get(first.job_id).status is JobStatus.QUEUED
        second = await submit(queue, "b", count=4, seed=2)  # the batch is full: it goes
        await follow(queue, first.job_id)
        await follow(queue, second.job_id)
    finally:
        await queue.close()
    assert engine.calls == [[first.job_id, second.job_id]]


async def test_without_a_window_or_past_it_a_lone_job_runs_alone(tmp_path: Path) -> None:
    for window in (0.0, 0.2):
        engine = FakeEngine()
        queue = await started_service(tmp_path / str(window), engine, batch_window_seconds=window)
        try:
            first = await submit(queue, "a", count=4, seed=1)
            events = await follow(queue, first.job_id)  # not held past the window
            second = await submit(queue, "b", count=4, seed=2)
            await follow(queue, second.job_id)
        finally:
            await queue.close()
        assert events[-1].kind == "done"
        assert engine.calls == [[first.job_id], [second.job_id]]


async def test_a_members_jobs_are_listed_with_their_places_and_the_counts_per_guild(
    tmp_path: Path,
) -> None:
    queue = await started_service(tmp_path, FakeEngine(step_seconds=0.2), max_batch=1)
    try:
        running = await submit(queue, "me", steps=20)
        await asyncio.sleep(0.1)
        others = [await submit(queue, f"o{i}") for i in range(3)]
        here = await submit(queue, "me", prompt="a second lighthouse")
        there = await submit(queue, "me", guild="g2")
        mine = queue.user_jobs("me")
        assert [p.job.id for p in mine] == [running.job_id, here.job_id, there.job_id]
        assert mine[0].running and mine[0].ticket is None
        assert [p.ticket for p in mine[1:]] == [
            queue.ticket(here.job_id),
            queue.ticket(there.job_id),
        ]
        assert mine[1].job.request.prompt == "a second lighthouse"
        assert [p.job.id for p in queue.user_jobs("me", guild_id="g1")] == [
            running.job_id,
            here.job_id,
        ]
        assert all(p.ticket is None for p in queue.user_jobs("me", positions=False))
        assert queue.waiting("g1") == 4 and queue.waiting("g2") == 1 and queue.waiting() == 5
        await queue.cancel(here.job_id, user_id="me")
        assert [p.job.id for p in queue.user_jobs("me")] == [running.job_id, there.job_id]
        assert queue.waiting("g1") == 3
        await queue.cancel(running.job_id, user_id="me")
        for ticket in (running, *others, there):
            await follow(queue, ticket.job_id)
        assert queue.user_jobs("me") == [] and queue.waiting() == 0
    finally:
        await queue.close()


async def test_every_listener_hears_the_same_bounded_story_from_all_events(
    tmp_path: Path,
) -> None:
    """``all_events`` (logs, dashboards) gets the same position events as the job's own
    listener: the submit's, then milestones only."""
    queue = await started_service(tmp_path, FakeEngine(), max_batch=1)
    seen: list[QueueEvent] = []

    async def record() -> None:
        async for event in queue.all_events():
            seen.append(event)

    recorder = asyncio.create_task(record())
    await asyncio.sleep(0)
    try:
        tickets = [await submit(queue, f"u{i}") for i in range(40)]
        for ticket in tickets:
            await follow(queue, ticket.job_id)
    finally:
        recorder.cancel()
        await queue.close()
    queued = [e for e in seen if e.kind == "queued" and e.job_id == tickets[-1].job_id]
    assert 1 < len(queued) <= MAX_NOTICES
    assert queued[-1].position == 0
