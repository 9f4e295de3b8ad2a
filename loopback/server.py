"""A loopback Discord: REST API v10 and the gateway, on 127.0.0.1, for the real discord.py client.

Tests (and ``muralist demo``) point the bot at it (``discord.http.Route.BASE`` and the gateway
default), then act as Discord would through the driver (``loopback.driver``) and read back what
the bot sent. Every request is held to Discord's contract (``loopback.contract``: the official
OpenAPI schema, then the documented rules) and its rate limits (``loopback.ratelimit``); every
breach is recorded in ``violations`` and answered with Discord's error shape, so a test fixture
can fail on it.

To keep its work out of the bot's event loop (benchmarks, load tests), run it in a thread of its
own with ``loopback.thread.LoopbackThread``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from loopback.contract import Contract
from loopback.driver import Driver
from loopback.gateway import Gateway
from loopback.ratelimit import RateLimiter, RateLimits
from loopback.rest import RestApi
from loopback.state import DEFAULT_SIZE_LIMIT

#: Pending connections the listening socket holds: aiohttp's default (128) drops connections
#: under a 500-connection burst (each dropped one costs the client a 1 s TCP retry).
LISTEN_BACKLOG = 2048


class LoopbackDiscord(Driver):
    """Discord on 127.0.0.1 for one bot application, with one guild (see ``FakeGuild``)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        ack_deadline: float = 3.0,
        token_lifetime: float = 15 * 60,
        attachment_size_limit: int = DEFAULT_SIZE_LIMIT,
        heartbeat_interval_ms: int = 41_250,
        rate_limits: RateLimits | None = None,
        backlog: int = LISTEN_BACKLOG,
    ) -> None:
        super().__init__(
            token=token,
            ack_deadline=ack_deadline,
            token_lifetime=token_lifetime,
            attachment_size_limit=attachment_size_limit,
        )
        self.backlog = backlog
        self.contract = Contract()
        self.limiter = RateLimiter(rate_limits or RateLimits())
        self.gateway = Gateway(self, heartbeat_interval_ms)
        self.rest = RestApi(self, self.contract, self.limiter)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop serving, once started

    # ----------------------------------------------------------------- life cycle
    async def start(self) -> LoopbackDiscord:
        self.loop = asyncio.get_running_loop()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        app.router.add_get("/attachments/{id}/{filename}", self._cdn)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=self.backlog)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self.api_base = f"http://127.0.0.1:{self._port}/api/v10"
        self.cdn_base = f"http://127.0.0.1:{self._port}"
        self.gateway.url = self.rest.gateway_url = self.gateway_url
        return self

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        """An attachment's bytes, as cdn.discordapp.com serves them (``Attachment.read()``)."""
        ident = request.match_info["id"]
        found = self.attachment(int(ident)) if ident.isdigit() else None
        if found is None or found.filename != request.match_info["filename"]:
            return web.Response(status=404, text="404: Not Found")
        self.downloads.append(found.id)
        content_type = found.payload(self.cdn_base)["content_type"]
        return web.Response(body=found.data, content_type=content_type)

    async def stop(self) -> None:
        self.cancel_timers()
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> LoopbackDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket as a network failure would; discord.py then RESUMEs."""
        await self.gateway.drop(code)

    # ----------------------------------------------------------------- the contract's record
    @property
    def requests(self) -> int:
        """REST requests received."""
        return self.contract.requests

    @property
    def validated(self) -> int:
        """REST requests the contract validator checked (all of them unless one was refused
        before it: an unknown route, an unreadable body, or a 429)."""
        return self.contract.validated

    def contract_summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "validated": self.validated,
            "rate_limited": self.limiter.limited,
            "violations": len(self.violations),
        }
