"""A loopback Discord for tests and the demo: the real discord.py client talks to 127.0.0.1."""

from __future__ import annotations

from loopback.fixtures import FakeChannel, FakeGuild, FakeUser
from loopback.server import Interaction, LoopbackDiscord, LoopbackError, Sent, StoredMessage

__all__ = [
    "FakeChannel",
    "FakeGuild",
    "FakeUser",
    "Interaction",
    "LoopbackDiscord",
    "LoopbackError",
    "Sent",
    "StoredMessage",
]
