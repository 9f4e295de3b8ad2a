"""``kill -9`` of the bot process, mid-job and at the moment its result lands.

The bot runs as ``muralist bot`` in a child process against the test's loopback Discord; jobs run
on a real ``muralist worker`` (the tiny model) over a real ``redis-server``, or in the bot's own
process. After each restart every reply is finished (no "Painting…" left), every result is
posted once, and buttons and forms sent before the restart still get answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from generation.tiny import ensure_tiny_model
from loopback import FakeUser, Interaction, LoopbackDiscord, Sent, StoredMessage
from tests.faults.checks import (
    assert_each_job_delivered_once,
    assert_every_interaction_answered,
    assert_no_progress_left,
    assert_no_traceback,
    delivered_jobs,
    job_of,
    result_posts,
)
from tests.faults.conftest import needs_redis
from tests.faults.processes import BotProcess, Child, base_env, worker
from tests.generation.queue.redis_server import RedisServer

pytestmark = [pytest.mark.slow, needs_redis]

PREFIX = "faults"


@dataclass
class Farm:
    redis: RedisServer
    worker: Child


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, tiny_cache: Path) -> Iterator[Farm]:
    """Redis and one real GPU worker (the tiny model on the CPU) for the whole module."""
    ensure_tiny_model("tiny", tiny_cache)
    folder = tmp_path_factory.mktemp("farm")
    server = RedisServer().start()
    gpu = worker(
        tiny_cache,
        server.url,
        "gpu0",
        folder / "worker.log",
        queue__stream_prefix=PREFIX,
        queue__heartbeat_seconds=0.5,
    )
    gpu.start()
    yield Farm(server, gpu)
    gpu.stop()
    server.stop()
    assert_no_traceback(gpu.output())


def bot_env(tmp_path: Path, tiny_cache: Path, **settings: object) -> dict[str, str]:
    values: dict[str, object] = {
        "queue__db_path": tmp_path / "state.db",
        "queue__images_dir": tmp_path / "images",
        "discord__image_side": 64,
        "discord__progress_edit_seconds": 0,
        "engine__default_steps": 2,
        "log_level": "DEBUG",
    }
    values.update(settings)
    return base_env(tiny_cache, **values)


def redis_bot(
    loopback: LoopbackDiscord, farm: Farm, tmp_path: Path, tiny_cache: Path, **settings: object
) -> BotProcess:
    env = bot_env(
        tmp_path,
        tiny_cache,
        queue__redis_url=farm.redis.url,
        queue__stream_prefix=PREFIX,
        queue__heartbeat_seconds=0.5,
        **settings,
    )
    return BotProcess(loopback, env, tmp_path / "bot.log")


def is_result(message: StoredMessage) -> bool:
    if message.content.startswith(("❌", "🚫", "⚠️")):
        raise AssertionError(message.content)
    return bool(message.embeds) and bool(message.components)


def result_for(record: Interaction, kind: str) -> Callable[[Sent], bool]:
    """Whether a request puts ``record``'s result on a message: its reply (``edit_original``)
    or a post to its channel that mentions its user (``channel_message``)."""

    def matches(sent: Sent) -> bool:
        payload = sent.payload if isinstance(sent.payload, dict) else {}
        if sent.kind != kind or not payload.get("embeds"):
            return False
        if kind == "channel_message":
            return str(payload.get("content", "")).startswith(f"<@{record.user.id}>")
        return sent.interaction_id == record.id

    return matches


def kill_when(
    loopback: LoopbackDiscord, bot: BotProcess, landed: Callable[[Sent], bool]
) -> asyncio.Event:
    """SIGKILL the bot the moment Discord has applied the request ``landed`` picks, before
    the bot hears back (so it never records the delivery)."""
    killed = asyncio.Event()

    async def hook(sent: Sent) -> None:
        if landed(sent):
            bot.kill()
            loopback.before_answer = None
            killed.set()

    loopback.before_answer = hook
    return killed


async def killed_mid_job(
    loopback: LoopbackDiscord, bot: BotProcess, user: FakeUser, prompt: str
) -> StoredMessage:
    """/imagine of 150 steps; SIGKILL while it paints, start again: the finished reply."""
    options = {"prompt": prompt, "count": 1, "steps": 150, "seed": 1}
    record = await loopback.slash("imagine", options, user=user)
    await loopback.wait_original(record, lambda m: "Painting… step" in m.content, 120)
    bot.kill()
    await bot.ready()
    return await loopback.wait_original(record, is_result, 120)


async def test_bot_killed_mid_job_and_as_a_result_lands_finishes_each_reply_once(
    loopback: LoopbackDiscord, farm: Farm, tmp_path: Path, tiny_cache: Path
) -> None:
    bot = redis_bot(loopback, farm, tmp_path, tiny_cache)
    alice = loopback.add_user("alice")
    try:
        await bot.ready()
        # 1. Killed while the worker paints: the reply stays at "Painting… step n/150".
        first = await killed_mid_job(loopback, bot, alice, "a slow tide")

        # 2. Killed the moment its result is on the reply, before the bot records it.
        quick = await loopback.slash("imagine", {"prompt": "a quick wave", "count": 1}, user=alice)
        killed = kill_when(loopback, bot, result_for(quick, "edit_original"))
        await asyncio.wait_for(killed.wait(), 120)
        await bot.ready()
        second = await loopback.wait_original(quick, is_result, 5)
        db = tmp_path / "state.db"
        await loopback.wait_for(lambda: delivered_jobs(db).get(job_of(second), False), 60)

        # 3. A form opened before a restart, and a button of a message from before it.
        opened = await loopback.click(first, first.button("✏️"), user=alice)
        await loopback.wait_for(lambda: opened.modal is not None)
        bot.kill()
        await bot.ready()
        remix = await loopback.submit_modal(opened, {"prompt": "a slow tide at night"})
        remixed = await loopback.wait_original(remix, is_result, 120)
        vary = await loopback.click(second, second.button("Vary (subtle)"), user=alice)
        varied = await loopback.wait_original(vary, is_result, 120)
        await loopback.wait_for(
            lambda: all(delivered_jobs(db).get(job_of(m), False) for m in (remixed, varied)), 60
        )
    finally:
        bot.stop()
    assert len(result_posts(loopback, job_of(first))) == 1
    assert len(result_posts(loopback, job_of(second))) == 1
    assert not loopback.channel_messages("art")  # every result in its own reply
    assert_each_job_delivered_once(loopback, db)
    assert_no_progress_left(loopback)
    assert_every_interaction_answered(loopback)
    log = bot.output()
    assert_no_traceback(log)
    assert loopback.token not in log
    assert not any(record.token in log for record in loopback.interactions.values())


async def test_bot_killed_as_it_posts_to_the_channel_past_the_token_posts_once(
    loopback: LoopbackDiscord, farm: Farm, tmp_path: Path, tiny_cache: Path
) -> None:
    # Tokens "expired": the bot may not use them (a violation if it did), so the result goes
    # to the channel with a mention and the reply is edited through the channel to point to it.
    loopback.token_lifetime = 0.001
    bot = redis_bot(loopback, farm, tmp_path, tiny_cache, discord__token_lifetime_seconds=0.001)
    bea = loopback.add_user("bea")
    try:
        await bot.ready()
        record = await loopback.slash("imagine", {"prompt": "a lantern", "count": 1}, user=bea)
        killed = kill_when(loopback, bot, result_for(record, "channel_message"))
        await asyncio.wait_for(killed.wait(), 120)
        await bot.ready()
        reply = await loopback.wait_original(record, lambda m: m.content.startswith("✅"), 60)
        db = tmp_path / "state.db"
        await loopback.wait_for(lambda: all(delivered_jobs(db).values()), 60)
    finally:
        bot.stop()
    [posted] = loopback.channel_messages("art")
    assert posted.mentions == [bea.id] and is_result(posted)
    assert str(posted.id) in reply.content
    assert len(result_posts(loopback, job_of(posted))) == 1
    assert_each_job_delivered_once(loopback, db)
    assert_no_progress_left(loopback)
    assert_every_interaction_answered(loopback)
    assert_no_traceback(bot.output())


async def test_bot_with_its_own_engine_killed_mid_job_paints_again_and_finishes_the_reply(
    loopback: LoopbackDiscord, tmp_path: Path, tiny_cache: Path
) -> None:
    ensure_tiny_model("tiny", tiny_cache)
    bot = BotProcess(loopback, bot_env(tmp_path, tiny_cache), tmp_path / "bot.log")
    cid = loopback.add_user("cid")
    try:
        await bot.ready()
        await killed_mid_job(loopback, bot, cid, "a harbour")
        db = tmp_path / "state.db"
        await loopback.wait_for(lambda: all(delivered_jobs(db).values()), 60)
    finally:
        bot.stop()
    assert_each_job_delivered_once(loopback, db)
    assert_no_progress_left(loopback)
    assert_every_interaction_answered(loopback)
    assert_no_traceback(bot.output())
