"""Quotas and lanes: images or GPU-seconds per member per hour and day, refused with when it frees
up, refunded when a job fails; fast roles, exempt roles, and the fall back to relax."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from generation.queue import Job, JobStatus
from generation.requests import GenerationRequest
from studio import ImagineOptions, Requester, Studio
from studio.guild_settings import GuildSettings
from studio.quotas import Quotas, QuotaSpent, UsageLedger, duration, windows_at
from tests.studio.conftest import finished

ADMIN = 99
FAST_ROLE, EXEMPT_ROLE = 500, 501
ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
PATRON = Requester(user_id=2, guild_id=10, channel_id=100, role_ids=(FAST_ROLE,))
EXEMPT = Requester(user_id=3, guild_id=10, channel_id=100, role_ids=(EXEMPT_ROLE,))
MODERATOR = Requester(user_id=4, guild_id=10, channel_id=100, manage_messages=True)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_windows_are_the_clock_hour_and_the_day_from_the_reset_hour() -> None:
    spans = windows_at(at("2026-03-01 04:30"), reset_hour=5)
    assert spans["hour"] == (at("2026-03-01 04:00"), at("2026-03-01 05:00"))
    assert spans["day"] == (at("2026-02-28 05:00"), at("2026-03-01 05:00"))
    assert windows_at(at("2026-03-01 05:00"), 5)["day"][0] == at("2026-03-01 05:00")
    assert duration(40) == "40 s" and duration(14 * 60) == "14 min"
    assert duration(2 * 3600 + 5 * 60) == "2 h 05 min"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(count: int = 1, steps: int = 10) -> GenerationRequest:
    return GenerationRequest(prompt="a boat", count=count, steps=steps)


def test_gpu_seconds_are_charged_at_the_measured_cost_and_refunded_on_failure(
    tmp_path: Path,
) -> None:
    clock = Clock(at("2026-03-01 12:10"))
    jobs: dict[str, Job] = {}
    quotas = Quotas(
        UsageLedger(tmp_path / "state.db"),
        cost=lambda r: 1.5 * r.count * r.steps,  # the queue's estimator in production
        job=jobs.get,
        clock=clock,
    )
    settings = GuildSettings(quota_unit="gpu_seconds", quota_hourly=100)
    for name, status in (("a", JobStatus.DONE), ("b", JobStatus.FAILED), ("c", JobStatus.QUEUED)):
        quotas.charge(name, ALICE, request(count=2), "relax")  # 30 GPU-seconds each
        jobs[name] = Job(guild_id="10", channel_id="100", user_id="1", request=request(2))
        jobs[name].status = status
    (hour,) = quotas.allowance(ALICE, settings, moderator=False).windows
    assert hour.used == 60 and hour.left == 40  # the failed job was refunded
    assert quotas.admit(ALICE, settings, request(count=2), moderator=False) == "relax"
    with pytest.raises(QuotaSpent) as caught:
        quotas.admit(ALICE, settings, request(count=4), moderator=False)  # 60 > 40 left
    refusal = caught.value
    assert refusal.field == "quota_hourly" and refusal.retry_after == 50 * 60
    assert "60 of 100 GPU-seconds used" in refusal.message and "13:00 UTC" in refusal.message
    assert "in 50 min" in refusal.message
    with pytest.raises(QuotaSpent, match="more than the whole hourly quota"):
        quotas.admit(ALICE, settings, request(count=4, steps=20), moderator=False)
    # The next hour starts afresh.
    clock.now = at("2026-03-01 13:00")
    assert quotas.allowance(ALICE, settings, moderator=False).windows[0].used == 0


async def test_a_member_past_the_quota_is_refused_until_it_frees_up(studio: Studio) -> None:
    studio.guilds.set_many(10, ADMIN, {"quota_hourly": 3, "quota_daily": 10})
    first = await studio.submit(ImagineOptions(prompt="a boat", count=2), ALICE)
    await finished(studio, first)
    with pytest.raises(QuotaSpent) as caught:
        await studio.submit(ImagineOptions(prompt="a boat", count=2), ALICE)
    assert caught.value.field == "quota_hourly" and "2 of 3 images used" in caught.value.message
    # One image still fits; the member's /info shows what is left.
    last = await studio.submit(ImagineOptions(prompt="a boat", count=1), ALICE)
    await finished(studio, last)
    shown = (await studio.instance(ALICE)).allowance
    assert shown is not None and [w.left for w in shown.windows] == [0, 7]
    # A cancelled job gives its images back.
    studio.guilds.set_many(10, ADMIN, {"quota_hourly": 5})
    cancelled = await studio.submit(ImagineOptions(prompt="a boat", count=2), ALICE)
    await studio.queue.cancel(cancelled.job_id, user_id="1")
    shown = (await studio.instance(ALICE)).allowance
    assert shown is not None and shown.windows[0].left in (2, 0)  # 0 only if it ran already
    # An exempt role paints on.
    studio.guilds.set_role(10, ADMIN, "quota_exempt_roles", EXEMPT_ROLE, True)
    studio.guilds.set_many(10, ADMIN, {"quota_hourly": 1})
    for _ in range(2):
        await finished(
            studio, await studio.submit(ImagineOptions(prompt="a boat", count=1), EXEMPT)
        )


async def test_requests_sent_at_the_same_moment_stay_within_the_quota(studio: Studio) -> None:
    studio.guilds.set_many(10, ADMIN, {"quota_hourly": 2})
    tries = [studio.submit(ImagineOptions(prompt="a boat", count=1), ALICE) for _ in range(4)]
    outcomes = await asyncio.gather(*tries, return_exceptions=True)
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(admitted) == 2
    assert all(isinstance(o, QuotaSpent) for o in outcomes if isinstance(o, BaseException))
    for submitted in admitted:
        await finished(studio, submitted)


async def test_fast_roles_paint_in_the_fast_lane_and_fall_back_to_relax(studio: Studio) -> None:
    studio.guilds.set_role(10, ADMIN, "fast_roles", FAST_ROLE, True)
    jobs = {}
    for who in (ALICE, PATRON, MODERATOR):
        submitted = await studio.submit(ImagineOptions(prompt="a boat", count=1), who)
        jobs[who.user_id] = submitted
        await finished(studio, submitted)
    priority = {user: studio.queue.get(s.job_id).priority for user, s in jobs.items()}
    assert priority == {1: "default", 2: "booster", 4: "moderator"}
    assert [jobs[u].lane for u in (1, 2, 4)] == ["relax", "fast", "fast"]

    # Past the quota: refused by default; in relax when the guild chose so.
    studio.guilds.set_many(10, ADMIN, {"quota_hourly": 1})
    with pytest.raises(QuotaSpent):
        await studio.submit(ImagineOptions(prompt="a boat", count=1), PATRON)
    studio.guilds.set_many(10, ADMIN, {"quota_when_spent": "relax"})
    relaxed = await studio.submit(ImagineOptions(prompt="a boat", count=1), PATRON)
    assert relaxed.lane == "relax"
    assert studio.queue.get(relaxed.job_id).priority == "default"
    await finished(studio, relaxed)
    allowance = (await studio.instance(PATRON)).allowance
    assert allowance is not None and allowance.lane == "fast" and allowance.fallback_to_relax
