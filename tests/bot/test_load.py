"""50 users sending 200 /imagine at once, under Discord's rate limits: every one answered in
time, caps and fair order kept."""

from __future__ import annotations

import asyncio

from bot.config import Settings
from generation.engine_api import ImageEngine
from loopback import LoopbackDiscord, RateLimits
from tests.bot.harness import GatedEngine, running_bot

USERS = 50
PER_USER = 4
CAP = 2


async def test_burst_answered_capped_and_fair(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    settings.queue.per_user_cap = CAP
    settings.queue.per_guild_cap = 1000
    settings.discord.preview_every = 0
    # Discord's global limit and tight per-route buckets: discord.py's handling of the
    # X-RateLimit headers (and of any 429) is part of what this burst exercises.
    loopback.limiter.limits = RateLimits(per_route=5, window=1.0, global_per_second=50)
    gated = GatedEngine(engine)
    users = [loopback.add_user(f"user{n}") for n in range(USERS)]
    async with running_bot(loopback, settings, gated) as running:
        records = await asyncio.gather(
            *(
                loopback.slash("imagine", {"prompt": f"a tree {n}", "count": 1, "steps": 1}, user=u)
                for n in range(PER_USER)
                for u in users
            )
        )
        # Every command answered; with the engine held, each user has CAP jobs and the rest refused.
        await loopback.wait_for(
            lambda: all(
                r.followup_ids or (r.original_id and loopback.original(r).edits) for r in records
            ),
            timeout=60,
        )
        refused = [r for r in records if r.followup_ids]
        assert len(refused) == USERS * (PER_USER - CAP)
        for record in refused:
            [reply] = loopback.followups(record)
            assert reply.ephemeral and "the limit is 2" in reply.content
        accepted = [r for r in records if not r.followup_ids]
        per_user: dict[int, int] = {}
        for record in accepted:
            per_user[record.user.id] = per_user.get(record.user.id, 0) + 1
        assert set(per_user.values()) == {CAP} and len(per_user) == USERS

        gated.gate.set()
        await loopback.wait_for(
            lambda: all(loopback.original(r).embeds for r in accepted), timeout=120
        )
        await running.bot.idle()
        # Fair order: every user's first job ran before any user's second.
        owners = [running.studio.queue.get(job_id).user_id for job_id in gated.order]
        assert len(set(owners[:USERS])) == USERS
