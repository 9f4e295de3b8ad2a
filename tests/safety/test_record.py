from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safety.errors import InvalidSafetyInput, SafetyError
from safety.images import ImageVerdict
from safety.prompt_filter import PromptFilter
from safety.record import SCHEMA_VERSION, ModerationRecord

GUILD, CHANNEL, USER, MOD = 100, 200, 300, 400


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def record(tmp_path: Path, clock: Clock) -> ModerationRecord:
    return ModerationRecord(tmp_path / "muralist.db", reports_to_hide=3, clock=clock)


def test_blocked_prompts_and_images_are_recorded_with_who_where_why(
    record: ModerationRecord, prompt_filter: PromptFilter
) -> None:
    verdict = prompt_filter.check("nud3 t33n")
    entry = record.record_blocked_prompt(
        verdict, guild_id=GUILD, channel_id=CHANNEL, user_id=USER, prompt="nud3 t33n"
    )
    assert entry.kind == "absolute_rule"
    flagged = ImageVerdict(index=1, status="flagged", reasons=["model checker"])
    record.record_image(
        flagged, guild_id=GUILD, channel_id=CHANNEL, user_id=USER, job_id="job1", action="withhold"
    )
    record.log("dismiss", guild_id=GUILD, actor_id=MOD, job_id="job1", reason="false alarm")
    record.log("dismiss", guild_id=999, actor_id=MOD)  # another guild
    entries = record.recent(GUILD)
    assert [e.kind for e in entries] == ["dismiss", "flagged_image", "absolute_rule"]
    absolute = entries[2]
    assert (absolute.guild_id, absolute.channel_id, absolute.user_id) == (GUILD, CHANNEL, USER)
    assert absolute.details["prompt"] == "nud3 t33n"
    assert set(absolute.details["categories"]) == {"sexual", "minors"}
    assert entries[1].job_id == "job1" and entries[1].details["action"] == "withhold"
    assert entries[0].actor_id == MOD and entries[0].reason == "false alarm"
    assert [e.kind for e in record.recent(GUILD, kinds=["flagged_image"])] == ["flagged_image"]


def test_bans_with_expiry(record: ModerationRecord, clock: Clock) -> None:
    assert record.active_ban(GUILD, USER) is None
    ban = record.ban(GUILD, USER, by=MOD, reason="spam", duration=timedelta(hours=1))
    assert ban.expires_at == clock.now + timedelta(hours=1)
    active = record.active_ban(GUILD, USER)
    assert active is not None and active.reason == "spam" and active.banned_by == MOD
    assert record.active_ban(GUILD + 1, USER) is None  # per guild
    clock.now += timedelta(hours=1, seconds=1)
    assert record.active_ban(GUILD, USER) is None  # expired
    record.ban(GUILD, USER, by=MOD, reason="again")  # no expiry
    clock.now += timedelta(days=3650)
    assert record.active_ban(GUILD, USER) is not None
    assert record.unban(GUILD, USER, by=MOD, reason="appeal")
    assert record.active_ban(GUILD, USER) is None
    assert not record.unban(GUILD, USER, by=MOD)
    kinds = [e.kind for e in record.recent(GUILD)]
    assert kinds == ["unban", "ban", "ban"]


def test_active_bans_lists_every_unexpired_ban_of_the_guild_only(
    record: ModerationRecord, clock: Clock
) -> None:
    record.ban(GUILD, USER, by=MOD, reason="spam", duration=timedelta(hours=1))
    record.ban(GUILD, USER + 1, by=MOD, reason="abuse")
    record.ban(GUILD + 1, USER + 2, by=MOD, reason="elsewhere")
    assert {b.user_id for b in record.active_bans(GUILD)} == {USER, USER + 1}
    clock.now += timedelta(hours=2)
    assert [b.reason for b in record.active_bans(GUILD)] == ["abuse"]
    record.unban(GUILD, USER + 1, by=MOD)
    assert record.active_bans(GUILD) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": " "}, "reason"),
        ({"reason": "x", "duration": timedelta(0)}, "duration"),
        ({"reason": "x", "expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, "expires_at"),
        ({"reason": "x", "expires_at": datetime(2030, 1, 1)}, "expires_at"),
    ],
)
def test_bad_bans_are_refused(record: ModerationRecord, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidSafetyInput) as caught:
        record.ban(GUILD, USER, by=MOD, **kwargs)
    assert caught.value.field == field
    assert record.active_ban(GUILD, USER) is None


def test_reports_hide_a_result_until_a_moderator_decides(record: ModerationRecord) -> None:
    first = record.report("job1", guild_id=GUILD, channel_id=CHANNEL, reporter_id=1, author_id=USER)
    assert first.accepted and first.state.reports == 1 and first.state.status == "visible"
    again = record.report("job1", guild_id=GUILD, channel_id=CHANNEL, reporter_id=1)
    assert not again.accepted and again.state.reports == 1  # one report per member
    record.report("job1", guild_id=GUILD, channel_id=CHANNEL, reporter_id=2)
    third = record.report("job1", guild_id=GUILD, channel_id=CHANNEL, reporter_id=3)
    assert third.newly_hidden and third.state.status == "hidden"
    fourth = record.report("job1", guild_id=GUILD, channel_id=CHANNEL, reporter_id=4)
    assert not fourth.newly_hidden and fourth.state.status == "hidden"
    state = record.decide("job1", guild_id=GUILD, moderator_id=MOD, action="approve")
    assert state.status == "approved"
    later = record.report("job1", guild_id=GUILD, channel_id=CHANNEL, reporter_id=5)
    assert later.state.status == "approved" and not later.newly_hidden
    assert record.decide("job1", guild_id=GUILD, moderator_id=MOD, action="remove").status == (
        "removed"
    )
    assert record.result_state("other").status == "visible"
    kinds = [e.kind for e in record.recent(GUILD)]
    assert kinds.count("report") == 5 and kinds.count("hidden") == 1
    assert kinds[:2] == ["remove", "report"]


def test_the_record_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "muralist.db"
    first = ModerationRecord(path, reports_to_hide=1, clock=clock)
    first.ban(GUILD, USER, by=MOD, reason="spam")
    first.report("job1", guild_id=GUILD, channel_id=CHANNEL, reporter_id=1)
    first.close()
    second = ModerationRecord(path, clock=clock)
    assert second.schema_version() == SCHEMA_VERSION
    assert second.active_ban(GUILD, USER) is not None
    assert second.result_state("job1").status == "hidden"
    assert len(second.recent(GUILD)) == 3  # ban, report, hidden
    assert not second.report("job1", guild_id=GUILD, channel_id=CHANNEL, reporter_id=1).accepted


def test_the_record_shares_the_file_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "muralist.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE jobs (id TEXT)")  # another package's table
    other.execute("PRAGMA user_version = 7")
    other.commit()
    ModerationRecord(path).close()
    assert other.execute("PRAGMA user_version").fetchone()[0] == 7
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.execute("UPDATE safety_meta SET value = '99' WHERE key = 'schema_version'")
    other.commit()
    with pytest.raises(SafetyError, match="newer"):
        ModerationRecord(path)


def test_threads_can_share_one_record(record: ModerationRecord) -> None:
    def report(member: int) -> None:
        record.report("job9", guild_id=GUILD, channel_id=CHANNEL, reporter_id=member)

    threads = [threading.Thread(target=report, args=(m,)) for m in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = record.result_state("job9")
    assert state.reports == 20 and state.status == "hidden"
    assert len(record.recent(GUILD, kinds=["hidden"])) == 1
