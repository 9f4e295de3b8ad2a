"""The delivery record, and a state file of the previous version opened by this one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import open_studio
from generation.engine_api import ImageEngine
from generation.queue import JobStatus
from studio import DeliveryTarget, ImagineOptions, Requester
from studio.deliveries import DeliveryRecord
from studio.errors import Refused

LEGACY = Path(__file__).parent / "data" / "state-v0.1.db"
DONE_JOB = "e476ea386663477d9cd4dd472caf370c"
QUEUED_JOB = "2dab3232174f48c1a622a133b79361db"


def test_what_delivery_needs_is_kept_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    record = DeliveryRecord(path)
    target = DeliveryTarget(reply_token="secret", application_id=42, expires_at=1234.5)
    record.asked("job1", channel_nsfw=True, target=target)
    record.hold("job1", 7)
    record.close()

    again = DeliveryRecord(path)
    notes = again.notes("job1")
    assert notes.channel_nsfw and notes.target == target and notes.held
    assert again.release("job1") and not again.release("job1")
    again.posted("job1", 100, 555)
    again.failed("job2", "channel 100 no longer exists")
    assert again.notes("job1").result == (100, 555) and not again.notes("job1").held
    assert again.notes("job2").problem == "channel 100 no longer exists"
    assert again.notes("unknown").target == DeliveryTarget()


async def test_a_state_file_of_the_previous_version_opens_and_migrates(
    tmp_path: Path, settings: Settings, studio_engine: ImageEngine
) -> None:
    shutil.copy(LEGACY, settings.queue.db_path)
    async with open_studio(settings, studio_engine) as studio:
        # Where the old version posted a result moved into studio's record.
        assert await studio.result_message(DONE_JOB) == (100, 123456789012345678)
        # The guild's settings, its ban and its report are all still there.
        guild = studio.guilds.get(10)
        assert (guild.default_steps, guild.default_negative, guild.per_user_cap) == (3, "blurry", 5)
        assert guild.allowed_models == ("tiny",) and guild.approval_channels == (100,)
        assert [t.text for t in guild.terms] == ["castle"]
        assert studio.record.active_ban(10, 7) is not None
        assert studio.record.result_state(DONE_JOB).reports == 1
        # The job queued before the upgrade runs now, with the guild's rules.
        assert studio.queue.get(DONE_JOB).status is JobStatus.DONE
        async for event in studio.events(QUEUED_JOB):
            last = event
        assert type(last).__name__ in ("Finished", "Blocked")
        assert studio.queue.get(QUEUED_JOB).status in (JobStatus.DONE, JobStatus.BLOCKED)
        with pytest.raises(Refused, match="spam"):
            await studio.submit(ImagineOptions(prompt="a boat"), Requester(7, 10, 100))
