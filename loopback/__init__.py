"""A loopback Discord for tests and the demo: the real discord.py client talks to 127.0.0.1.

Split by concern: ``spec`` (Discord's OpenAPI description) and ``rules`` (what the schema cannot
say) make the ``contract``; ``ratelimit``; ``rest`` and ``gateway`` serve the bot; ``state`` and
``fixtures`` hold the world; ``driver`` plays the users; ``server`` wires them; ``thread`` runs it
outside the bot's event loop. It imports nothing of the product.
"""

from __future__ import annotations

from loopback.fixtures import FakeChannel, FakeGuild, FakeUser
from loopback.ratelimit import RateLimits
from loopback.server import LoopbackDiscord
from loopback.state import Interaction, LoopbackError, Sent, StoredMessage, Upload
from loopback.thread import LoopbackThread

__all__ = [
    "FakeChannel",
    "FakeGuild",
    "FakeUser",
    "Interaction",
    "LoopbackDiscord",
    "LoopbackError",
    "LoopbackThread",
    "RateLimits",
    "Sent",
    "StoredMessage",
    "Upload",
]
