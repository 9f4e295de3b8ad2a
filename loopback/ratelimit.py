"""Discord's rate limits: per-route buckets with ``X-RateLimit-*`` headers, 429s, the global limit.

https://discord.com/developers/docs/topics/rate-limits: every response carries the bucket's
``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``, ``-Reset-After`` and ``-Bucket``; over the limit
a 429 says ``retry_after`` (seconds) and whether the limit was the global one. Buckets are per
route and per major parameter (channel, guild, webhook / interaction token). Interaction
endpoints are not bound to the global limit.

The per-route limits Discord uses are not published, so they are settings (:class:`RateLimits`).
The defaults are high enough that no test waits; load tests set real-looking ones to exercise
discord.py's handling of the headers and of 429s.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

#: Path parameters that make a separate bucket of the same route ("major parameters").
MAJOR = ("channel_id", "guild_id", "webhook_id", "webhook_token", "interaction_id")


@dataclass(frozen=True)
class RateLimits:
    """How many requests each bucket takes per ``window`` seconds, and the global limit."""

    per_route: int = 10_000
    window: float = 1.0
    #: requests per second over all routes except interaction ones; None for no global limit
    global_per_second: int | None = None
    #: per operation id (``create_message``…): (limit, window) instead of the default
    routes: dict[str, tuple[int, float]] = field(default_factory=dict)


@dataclass
class _Bucket:
    limit: int
    window: float
    reset_at: float = 0.0
    used: int = 0


@dataclass(frozen=True)
class Verdict:
    """The headers to send, and the 429 body when the request is refused."""

    headers: dict[str, str]
    limited: dict[str, object] | None = None


@dataclass
class RateLimiter:
    limits: RateLimits = field(default_factory=RateLimits)
    limited: int = 0  # 429s answered
    _buckets: dict[tuple[str, ...], _Bucket] = field(default_factory=dict)
    _global_window: float = 0.0
    _global_used: int = 0

    def hit(
        self, operation_id: str, template: str, params: dict[str, str], now: float | None = None
    ) -> Verdict:
        now = time.monotonic() if now is None else now
        interaction = template.startswith(
            ("/interactions/", "/webhooks/{webhook_id}/{webhook_token}")
        )
        if not interaction and self.limits.global_per_second is not None:
            if now >= self._global_window + 1.0:
                self._global_window, self._global_used = now, 0
            self._global_used += 1
            if self._global_used > self.limits.global_per_second:
                self.limited += 1
                retry = round(self._global_window + 1.0 - now, 3)
                return Verdict(
                    {
                        "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global",
                        "Retry-After": str(max(1, round(retry))),
                    },
                    {
                        "message": "You are being rate limited.",
                        "retry_after": retry,
                        "global": True,
                        "code": 0,
                    },
                )
        limit, window = self.limits.routes.get(
            operation_id, (self.limits.per_route, self.limits.window)
        )
        key = (template, *(params.get(k, "") for k in MAJOR))
        bucket = self._buckets.setdefault(key, _Bucket(limit, window))
        if now >= bucket.reset_at:
            bucket.reset_at, bucket.used = now + bucket.window, 0
        bucket.used += 1
        reset_after = max(0.0, bucket.reset_at - now)
        headers = {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(0, bucket.limit - bucket.used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(template.encode()).hexdigest()[:16],
        }
        if bucket.used <= bucket.limit:
            return Verdict(headers)
        self.limited += 1
        headers |= {"X-RateLimit-Scope": "user", "Retry-After": str(max(1, round(reset_after)))}
        return Verdict(
            headers,
            {
                "message": "You are being rate limited.",
                "retry_after": round(reset_after, 3),
                "global": False,
                "code": 0,
            },
        )
