"""Fixtures shared by every test folder: the loopback Discord with discord.py pointed at it.

Strict: a test fails when the bot broke any rule of Discord's contract (the OpenAPI schema, the
documented rules, the interaction rules) or when any request went unvalidated. The totals over
the session are printed at the end of the run.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.endpoints import point_discord_py_at
from loopback import LoopbackDiscord

_TOTALS = {"servers": 0, "requests": 0, "validated": 0, "rate_limited": 0}


@pytest.fixture
async def loopback() -> AsyncIterator[LoopbackDiscord]:
    """A started loopback Discord with discord.py pointed at it; violations fail the test."""
    server = await LoopbackDiscord().start()
    point_discord_py_at(server.api_base, server.gateway_url)
    try:
        yield server
    finally:
        await server.stop()
    summary = server.contract_summary()
    _TOTALS["servers"] += 1
    for key in ("requests", "validated", "rate_limited"):
        _TOTALS[key] += summary[key]
    if server.violations:
        pytest.fail("the bot broke Discord's rules:\n" + "\n".join(server.violations))
    if server.validated != server.requests:
        pytest.fail(f"only {server.validated} of {server.requests} requests were validated")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TOTALS["servers"]:
        terminalreporter.write_line(
            f"loopback Discord: {_TOTALS['requests']} requests in {_TOTALS['servers']} tests, "
            f"{_TOTALS['validated']} validated against Discord's contract, "
            f"{_TOTALS['rate_limited']} answered 429"
        )


@pytest.fixture(autouse=True)
def _unfreeze_the_heap() -> Iterator[None]:
    """Loading a model freezes the heap (``engine.gc_freeze``), which suits a bot that keeps its
    loader for good; tests drop loaders all the time, so their objects are handed back to the
    collector after each test instead of staying frozen (and uncollectable) to the end."""
    yield
    gc.unfreeze()
