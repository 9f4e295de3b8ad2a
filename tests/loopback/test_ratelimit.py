"""Rate limits as Discord applies them, and discord.py living with them: it waits when the
headers say a bucket is spent, and retries after a 429, so every message arrives once."""

from __future__ import annotations

import asyncio

import discord

from loopback import LoopbackDiscord, RateLimits
from loopback.ratelimit import RateLimiter

CHANNEL = "/channels/{channel_id}/messages"


def test_bucket_headers_count_down_then_429_with_retry_after() -> None:
    limiter = RateLimiter(RateLimits(routes={"create_message": (2, 1.0)}))
    first = limiter.hit("create_message", CHANNEL, {"channel_id": "1"}, now=10.0)
    second = limiter.hit("create_message", CHANNEL, {"channel_id": "1"}, now=10.1)
    other_channel = limiter.hit("create_message", CHANNEL, {"channel_id": "2"}, now=10.1)
    third = limiter.hit("create_message", CHANNEL, {"channel_id": "1"}, now=10.2)
    later = limiter.hit("create_message", CHANNEL, {"channel_id": "1"}, now=11.0)
    assert [first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]] == [
        "1",
        "0",
    ]
    assert first.headers["X-RateLimit-Limit"] == "2" and "X-RateLimit-Bucket" in first.headers
    assert other_channel.limited is None  # a channel is a major parameter: its own bucket
    assert third.limited == {
        "message": "You are being rate limited.",
        "retry_after": 0.8,
        "global": False,
        "code": 0,
    }
    assert later.limited is None and limiter.limited == 1


def test_global_limit_spares_interaction_routes() -> None:
    limiter = RateLimiter(RateLimits(global_per_second=1))
    assert limiter.hit("get_channel", "/channels/{channel_id}", {}, now=1.0).limited is None
    refused = limiter.hit("get_channel", "/channels/{channel_id}", {}, now=1.5).limited
    assert refused is not None and refused["global"] is True
    callback = "/interactions/{interaction_id}/{interaction_token}/callback"
    assert limiter.hit("create_interaction_response", callback, {}, now=1.6).limited is None


async def _send(client: discord.Client, loopback: LoopbackDiscord, channel: str, text: str) -> None:
    target = client.get_channel(loopback.channel(channel).id)
    assert isinstance(target, discord.TextChannel)
    await target.send(text)


async def test_discord_py_waits_when_a_bucket_is_spent(
    loopback: LoopbackDiscord, client: discord.Client
) -> None:
    loopback.limiter.limits = RateLimits(routes={"create_message": (2, 0.5)})
    for number in range(5):
        await _send(client, loopback, "art", f"message {number}")
    assert [m.content for m in loopback.channel_messages("art")] == [
        f"message {n}" for n in range(5)
    ]
    assert loopback.limiter.limited == 0  # the headers alone kept it within the limit


async def test_after_a_global_429_every_message_arrives_once(
    loopback: LoopbackDiscord, client: discord.Client
) -> None:
    loopback.limiter.limits = RateLimits(global_per_second=2)
    texts = [f"{channel} {n}" for channel in ("general", "art", "after-dark") for n in range(2)]
    await asyncio.gather(*(_send(client, loopback, t.split()[0], t) for t in texts))
    posted = sorted(
        m.content for c in ("general", "art", "after-dark") for m in loopback.channel_messages(c)
    )
    assert posted == sorted(texts)
    assert loopback.limiter.limited >= 1
    assert any(s.kind == "rate_limited" and s.status == 429 for s in loopback.transcript)
