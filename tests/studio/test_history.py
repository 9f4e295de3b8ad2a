"""The history index: a member's delivered results, newest first, searched with FTS5; deleted and
taken-down results never show again; the results of an older state file are indexed once."""

from __future__ import annotations

import sqlite3
from itertools import count
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import open_studio
from generation.engine_api import ImageEngine
from studio import ImagineOptions, Requester, Studio
from studio.errors import InvalidRequest, ModeratorsOnly
from studio.history import HistoryIndex, HistoryItem, match_expression
from tests.studio.conftest import finished

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
BOB = Requester(user_id=2, guild_id=10, channel_id=100)
MODERATOR = Requester(user_id=3, guild_id=10, channel_id=100, manage_messages=True)
_MESSAGES = count(5000)


async def paint(studio: Studio, who: Requester, prompt: str) -> str:
    """A job painted and delivered as the bot does it: posted, then recorded."""
    submitted = await studio.submit(ImagineOptions(prompt=prompt, count=1), who)
    await finished(studio, submitted)
    await studio.delivered(submitted.job_id, channel_id=who.channel_id, message_id=next(_MESSAGES))
    return submitted.job_id


async def listed(studio: Studio, who: Requester, user: int | None = None, query: str | None = None):
    """Every job id of a member's history in the order the pages show them."""
    first = await studio.gallery.page(who, user, query)
    ids = []
    for position in range(first.total):
        page = await studio.gallery.page(who, user, query, position)
        assert page.job is not None and page.total == first.total
        ids.append(page.job.job_id)
    return ids


async def test_history_is_newest_first_searchable_and_private(studio: Studio) -> None:
    fox = await paint(studio, ALICE, "a red fox in the snow")
    whale = await paint(studio, ALICE, "a blue whale under a lighthouse")
    await paint(studio, BOB, "a red fox on a boat")

    assert await listed(studio, ALICE) == [whale, fox]
    page = await studio.gallery.page(ALICE)
    assert page.job is not None and page.job.images and page.job.request.seed is not None
    # Words of the prompt, stemmed ("foxes" finds "fox"), the last one also as a prefix.
    assert await listed(studio, ALICE, query="foxes") == [fox]
    assert await listed(studio, ALICE, query="lightho") == [whale]
    assert await listed(studio, ALICE, query="red snow") == [fox]
    assert await listed(studio, ALICE, query="red whale") == []
    # Whatever a member types cannot break the search expression.
    assert (await studio.gallery.page(ALICE, query='"*) OR (')).total == 0
    assert await listed(studio, ALICE, query='fox" OR "whale') == []  # not FTS's OR
    with pytest.raises(InvalidRequest) as caught:
        await studio.gallery.page(ALICE, query="x" * 61)
    assert caught.value.field == "query"

    with pytest.raises(ModeratorsOnly):
        await studio.gallery.page(BOB, ALICE.user_id)
    assert await listed(studio, MODERATOR, ALICE.user_id) == [whale, fox]
    # Another guild's history is another history.
    elsewhere = Requester(user_id=1, guild_id=11, channel_id=110)
    assert (await studio.gallery.page(elsewhere)).total == 0


async def test_deleted_and_taken_down_results_never_show_again(
    studio: Studio, settings: Settings
) -> None:
    deleted, removed, reported, kept = [
        await paint(studio, ALICE, f"a picture number {n}") for n in range(4)
    ]
    gone = await studio.delete(deleted, ALICE)
    assert gone.place is not None and gone.place[0] == ALICE.channel_id
    # Posting it again (a re-delivery after a restart) does not bring it back.
    await studio.delivered(deleted, channel_id=100, message_id=next(_MESSAGES))

    entry = studio.record.log(
        "flagged_image", guild_id=10, user_id=1, job_id=removed, reason="test"
    )
    await studio.decide(MODERATOR, "remove", entry.id, removed, 1)

    for reporter in range(settings.safety.reports_to_hide):
        who = Requester(user_id=100 + reporter, guild_id=10, channel_id=100)
        await studio.report(reported, who, "not nice")
    assert await listed(studio, ALICE) == [kept]

    # A moderator approves the reported result: it is posted again and shows again.
    decided = await studio.decide(MODERATOR, "approve", entry.id, reported, 1)
    assert decided.post is not None
    await studio.delivered(reported, channel_id=100, message_id=next(_MESSAGES))
    assert await listed(studio, ALICE) == [kept, reported]


async def test_a_result_taken_down_behind_the_indexs_back_is_skipped(studio: Studio) -> None:
    job = await paint(studio, ALICE, "a lonely tree")
    studio.record.decide(job, guild_id=10, moderator_id=3, action="remove")
    assert (await studio.gallery.page(ALICE)).total == 0
    assert studio.gallery.index.state(job) == "removed"


async def test_results_whose_images_expired_leave_the_history(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await paint(studio, ALICE, "an old harbour")
    new = await paint(studio, ALICE, "a new harbour")
    assert await listed(studio, ALICE) == [new, old]
    # A month and a day later, the retention has purged both: neither is listed.
    later = studio.queue.store.get(new).finished_at + 31 * 86400  # type: ignore[operator]
    monkeypatch.setattr(studio.gallery, "_clock", lambda: later)
    assert studio.queue.store.purge(30, now=later) == 2
    assert await listed(studio, ALICE) == []
    # A job gone for another reason (deleted by hand) is found out when its page is shown.
    monkeypatch.undo()
    shown = await paint(studio, ALICE, "a harbour by night")
    gone = await paint(studio, ALICE, "a harbour by day")
    studio.queue.store._execute("DELETE FROM jobs WHERE id = ?", (gone,))
    assert (await studio.gallery.page(ALICE)).job.job_id == shown  # type: ignore[union-attr]
    assert studio.gallery.index.state(gone) == "expired"


async def test_the_results_of_an_older_state_file_are_indexed_once(
    settings: Settings, studio_engine: ImageEngine
) -> None:
    async with open_studio(settings, studio_engine) as studio:
        fox = await paint(studio, ALICE, "a red fox")
        removed = await paint(studio, ALICE, "a removed picture")
        studio.record.decide(removed, guild_id=10, moderator_id=3, action="remove")
        undelivered = await studio.submit(ImagineOptions(prompt="never posted", count=1), ALICE)
        await finished(studio, undelivered)
    # The file as an older Muralist left it: no history tables.
    with sqlite3.connect(settings.queue.db_path) as db:
        db.executescript(
            "DROP TABLE studio_history; DROP TABLE studio_history_words; "
            "DROP TABLE studio_history_meta;"
        )
    async with open_studio(settings, studio_engine) as studio:
        assert await listed(studio, ALICE) == [fox]
        later = await paint(studio, ALICE, "a later fox")
    async with open_studio(settings, studio_engine) as studio:  # not indexed twice
        assert await listed(studio, ALICE) == [later, fox]


def test_the_index_alone(tmp_path: Path) -> None:
    index = HistoryIndex(tmp_path / "state.db")
    for n, prompt in enumerate(["(red:1.2) café at dusk", "a cafe, oil painting"]):
        index.add(HistoryItem(f"job{n}", 10, 1, 100, float(n), prompt))
    assert index.page(10, 1, "cafe", 0, 10) == ["job1", "job0"]  # diacritics folded
    assert index.count(10, 1, "oil paintings") == 1
    index.mark("job1", "deleted")
    assert not index.add(HistoryItem("job1", 10, 1, 100, 5.0, "a cafe"))
    index.mark("job1", "shown")  # never undone
    assert index.count(10, 1) == 1
    assert match_expression("  ") is None
    assert match_expression('a "b') == '"a" AND "b"*'
