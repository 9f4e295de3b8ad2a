"""The loopback Discord in a thread of its own, with its own event loop.

Benchmarks and load tests measure the bot: with the loopback on the bot's loop, its own work
(parsing, validating, answering) would be counted in the bot's latency. Here the server runs on
another loop in another thread; the test's coroutines that drive it (``slash``, ``wait_for``…)
are sent to that loop with :meth:`LoopbackThread.call`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from loopback.server import LoopbackDiscord

T = TypeVar("T")


class LoopbackThread:
    """``async with LoopbackThread(LoopbackDiscord()) as remote:`` then
    ``await remote.call(remote.server.slash(...))``; plain reads (``remote.server.violations``)
    need no call."""

    def __init__(self, server: LoopbackDiscord | None = None) -> None:
        self.server = server or LoopbackDiscord()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="loopback", daemon=True)

    async def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loopback's loop and wait for it from this one."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def start(self) -> LoopbackThread:
        self._thread.start()
        await self.call(self._start())
        return self

    async def _start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        if self._thread.is_alive():
            await self.call(self.server.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 10)
        self._loop.close()

    async def __aenter__(self) -> LoopbackThread:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
