from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from generation.queue import (
    JobStatus,
    JobStore,
    Limits,
    NotAllowed,
    QueueEvent,
    QueueService,
    Refusal,
)
from generation.queue.runner import InProcessRunner
from tests.generation.queue.conftest import queue_config, request
from tests.generation.queue.fakes import FakeEngine


async def follow(service: QueueService, job_id: str) -> list[QueueEvent]:
    events: list[QueueEvent] = []
    async with asyncio.timeout(20):
        async for event in service.events(job_id):
            events.append(event)
    return events


async def submit(service: QueueService, user: str = "u1", guild: str = "g1", **fields: object):
    return await service.submit(
        guild_id=guild, channel_id="c1", user_id=user, request=request(**fields)
    )


async def test_a_job_runs_and_reports_queued_started_steps_and_done(
    service: QueueService,
) -> None:
    ticket = await submit(service, count=2, steps=3)
    events = await follow(service, ticket.job_id)
    kinds = [e.kind for e in events]
    assert kinds[-1] == "done" and "started" in kinds
    assert [e.step for e in events if e.kind == "step"][-1] == 3
    assert any(e.preview and e.preview.startswith(b"\x89PNG") for e in events)
    job = service.get(ticket.job_id)
    assert job.status is JobStatus.DONE and len(job.image_paths) == 2
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in job.image_paths)
    assert job.seeds == events[-1].seeds == [1, 2]
    assert service.mark_delivered(job.id) is True
    assert service.mark_delivered(job.id) is False


async def test_limits_refuse_at_once_naming_the_limit_and_when_it_frees_up(
    tmp_path: Path,
) -> None:
    config = queue_config(tmp_path, per_user_cap=2, per_guild_cap=3, global_cap=4)
    store = JobStore(config.db_path, config.images_dir)
    stalled = InProcessRunner(FakeEngine(step_seconds=0.5))
    queue = QueueService(config, store, stalled)
    await queue.start()
    try:
        await submit(queue, "a")
        await submit(queue, "a")
        with pytest.raises(Refusal) as caught:
            await submit(queue, "a")
        assert caught.value.limit == "per_user_cap" and caught.value.field == "per_user_cap"
        assert caught.value.retry_after > 0 and "limit is 2" in str(caught.value)
        await submit(queue, "b")
        with pytest.raises(Refusal) as caught:
            await submit(queue, "c")
        assert caught.value.limit == "per_guild_cap"
        await submit(queue, "c", guild="g2")
        with pytest.raises(Refusal) as caught:
            await submit(queue, "d", guild="g3")
        assert caught.value.limit == "global_cap"
        with pytest.raises(Refusal) as caught:
            await queue.submit(
                guild_id="g4",
                channel_id="c",
                user_id="e",
                request=request(),
                limits=Limits(cooldown_seconds=60),
            )
        assert caught.value.limit == "global_cap"  # caps are checked after the cooldown
    finally:
        await queue.close()


async def test_cooldown_refuses_with_the_seconds_left(service: QueueService) -> None:
    limits = Limits(cooldown_seconds=30)
    await service.submit(
        guild_id="g", channel_id="c", user_id="u", request=request(), limits=limits
    )
    with pytest.raises(Refusal) as caught:
        await service.submit(
            guild_id="g", channel_id="c", user_id="u", request=request(), limits=limits
        )
    assert caught.value.limit == "cooldown" and 25 < caught.value.retry_after <= 30


async def test_positions_follow_the_fair_order_and_etas_grow(tmp_path: Path) -> None:
    config = queue_config(tmp_path, max_batch=1)
    store = JobStore(config.db_path, config.images_dir)
    engine = FakeEngine(step_seconds=0.2)
    queue = QueueService(config, store, InProcessRunner(engine))
    await queue.start()
    try:
        first = await submit(queue, "heavy")
        heavy = [await submit(queue, "heavy") for _ in range(4)]
        light = await submit(queue, "light")
        assert first.position == 0
        ticket = queue.ticket(light.job_id)
        assert ticket is not None and ticket.position <= 1
        etas = [queue.ticket(t.job_id).eta_seconds for t in heavy]  # type: ignore[union-attr]
        assert etas == sorted(etas) and etas[0] > 0
        await follow(queue, heavy[-1].job_id)
        order = [ids[0] for ids in engine.calls]
        assert order.index(light.job_id) <= 2
    finally:
        await queue.close()


async def test_cancel_queued_at_once_running_at_the_next_step_and_only_by_owner_or_mod(
    tmp_path: Path,
) -> None:
    config = queue_config(tmp_path, max_batch=1)
    store = JobStore(config.db_path, config.images_dir)
    engine = FakeEngine(step_seconds=0.1)
    queue = QueueService(config, store, InProcessRunner(engine))
    await queue.start()
    try:
        running = await submit(queue, "a", steps=50)
        waiting = await submit(queue, "b")
        with pytest.raises(NotAllowed):
            await queue.cancel(waiting.job_id, user_id="a")
        assert await queue.cancel(waiting.job_id, user_id="b") is JobStatus.CANCELLED
        assert queue.get(waiting.job_id).status is JobStatus.CANCELLED
        await asyncio.sleep(0.3)
        assert await queue.cancel(running.job_id, user_id="mod", is_moderator=True) is (
            JobStatus.RUNNING
        )
        events = await follow(queue, running.job_id)
        assert events[-1].kind == "cancelled"
        assert engine.steps_run[running.job_id] < 50
        assert queue.get(running.job_id).status is JobStatus.CANCELLED
        assert [ids for ids in engine.calls if waiting.job_id in ids] == []
    finally:
        await queue.close()


async def test_compatible_jobs_share_one_engine_call_in_fair_order(tmp_path: Path) -> None:
    config = queue_config(tmp_path, max_batch=4)
    store = JobStore(config.db_path, config.images_dir)
    engine = FakeEngine(step_seconds=0.05)
    queue = QueueService(config, store, InProcessRunner(engine))
    await queue.start()
    try:
        blocker = await submit(queue, "z", width=128)  # occupies the engine while we queue
        tickets = [await submit(queue, f"u{i}", seed=100 + i) for i in range(5)]
        for t in tickets:
            await follow(queue, t.job_id)
        assert engine.calls[0] == [blocker.job_id]
        assert engine.calls[1] == [t.job_id for t in tickets[:4]]
        assert engine.calls[2] == [tickets[4].job_id]
        assert [queue.get(t.job_id).seeds for t in tickets] == [[100 + i] for i in range(5)]
    finally:
        await queue.close()


async def test_restart_resumes_queued_in_order_and_reruns_undelivered_running(
    tmp_path: Path,
) -> None:
    config = queue_config(tmp_path, max_batch=1)
    store = JobStore(config.db_path, config.images_dir)
    first = QueueService(config, store, InProcessRunner(FakeEngine(step_seconds=0.5)))
    await first.start()
    ids = [(await submit(first, f"u{i}", steps=20)).job_id for i in range(3)]
    await asyncio.sleep(0.2)
    assert first.get(ids[0]).status is JobStatus.RUNNING
    await first.close()  # a crash: nothing finished, nothing delivered
    store.close()

    store = JobStore(config.db_path, config.images_dir)
    engine = FakeEngine()
    second = QueueService(config, store, InProcessRunner(engine))
    await second.start()
    try:
        for job_id in ids:
            assert (await follow(second, job_id))[-1].kind == "done"
        assert [c[0] for c in engine.calls] == ids
        assert all(second.mark_delivered(job_id) for job_id in ids)
    finally:
        await second.close()
        store.close()

    store = JobStore(config.db_path, config.images_dir)
    engine = FakeEngine()
    third = QueueService(config, store, InProcessRunner(engine))
    await third.start()
    await asyncio.sleep(0.1)
    assert engine.calls == [] and third.undelivered() == []
    await third.close()


async def test_a_full_disk_and_a_broken_engine_fail_one_job_and_the_queue_goes_on(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    config = queue_config(tmp_path, images_dir=blocked)
    store = JobStore(config.db_path, config.images_dir)
    queue = QueueService(config, store, InProcessRunner(FakeEngine(fail_prompt="explode")))
    await queue.start()
    try:
        disk = await submit(queue, "a")
        events = await follow(queue, disk.job_id)
        assert events[-1].kind == "failed"
        assert "could not save the images" in (events[-1].error or "")
        store.images_dir = tmp_path / "images"  # space freed
        broken = await submit(queue, "b", prompt="explode")
        fine = await submit(queue, "c")
        assert "RuntimeError" in ((await follow(queue, broken.job_id))[-1].error or "")
        assert (await follow(queue, fine.job_id))[-1].kind == "done"
        assert queue.get(broken.job_id).status is JobStatus.FAILED
    finally:
        await queue.close()


async def test_step_events_are_throttled_per_job(tmp_path: Path) -> None:
    config = queue_config(tmp_path, progress_interval_seconds=0.25)
    store = JobStore(config.db_path, config.images_dir)
    queue = QueueService(config, store, InProcessRunner(FakeEngine(step_seconds=0.05)))
    await queue.start()
    try:
        ticket = await submit(queue, steps=20)
        steps = [e.step for e in await follow(queue, ticket.job_id) if e.kind == "step"]
        assert steps[0] == 1 and steps[-1] == 20
        assert 2 <= len(steps) < 10  # 20 steps over about 1 s, at most one per 0.25 s
    finally:
        await queue.close()


async def test_the_event_loop_stays_responsive_while_the_engine_is_busy(tmp_path: Path) -> None:
    """The engine blocks its thread for about 1 s per call; the loop must not notice."""
    config = queue_config(tmp_path, max_batch=1)
    store = JobStore(config.db_path, config.images_dir)
    engine = FakeEngine(step_seconds=0.25)
    queue = QueueService(config, store, InProcessRunner(engine))
    await queue.start()
    lags: list[float] = []
    try:

        async def probe() -> None:
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - before - 0.01)

        prober = asyncio.create_task(probe())
        tickets = []
        for i in range(30):
            tickets.append(await submit(queue, f"u{i}", steps=4))
            await asyncio.sleep(0.02)
        await follow(queue, tickets[1].job_id)
        prober.cancel()
        busy = 4 * engine.step_seconds
        lags.sort()
        p99 = lags[int(len(lags) * 0.99)]
        assert p99 < 0.2 * busy
    finally:
        await queue.close()
