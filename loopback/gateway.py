"""The gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with replay, dispatch.

Plain JSON text frames (discord.py accepts them even when it asks for zlib-stream). Events sent
while the bot is disconnected are kept (the last 2,000) and replayed on RESUME, as Discord does.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from loopback.state import DiscordState

PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
BACKLOG = 2000


@dataclass
class _Session:
    session_id: str
    seq: int = 0
    backlog: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None


class Gateway:
    def __init__(self, state: DiscordState, heartbeat_interval_ms: int = 41_250) -> None:
        self.state = state
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.url = ""
        self.session: _Session | None = None

    @property
    def connected(self) -> bool:
        return self.session is not None

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        session = self.session
        assert session is not None
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.backlog.append(frame)
        del session.backlog[:-BACKLOG]
        if session.ws is not None and not session.ws.closed:
            await session.ws.send_str(json.dumps(frame))

    async def drop(self, code: int = 4000) -> None:
        """Close the socket as a network failure would; discord.py then RESUMEs."""
        if self.session and self.session.ws is not None:
            ws, self.session.ws = self.session.ws, None
            await ws.close(code=code, message=b"loopback drop")

    async def close(self) -> None:
        if self.session and self.session.ws is not None:
            await self.session.ws.close()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await ws.send_str(
            json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        )
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            op, data = frame.get("op"), frame.get("d")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif op == 2:
                await self._identify(ws, data)
            elif op == 6:
                await self._resume(ws, data)
        if self.session is not None and self.session.ws is ws:
            self.session.ws = None
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        state = self.state
        if data.get("token") != state.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        if int(data.get("intents", 0)) & PRIVILEGED_INTENTS:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        state.identifies += 1
        self.session = _Session(session_id=secrets.token_hex(16), ws=ws)
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": state.bot_user.payload(),
                "guilds": [{"id": str(state.guild.id), "unavailable": True}],
                "session_id": self.session.session_id,
                "resume_gateway_url": self.url,
                "application": {"id": str(state.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
        )
        await self.dispatch("GUILD_CREATE", state.guild.payload())
        state.ready.set()

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        session = self.session
        if (
            session is None
            or data.get("token") != self.state.token
            or data.get("session_id") != session.session_id
        ):
            await ws.send_str(json.dumps({"op": 9, "d": False}))
            return
        self.state.resumes += 1
        session.ws = ws
        after = int(data.get("seq") or 0)
        for frame in [f for f in session.backlog if f["s"] > after]:
            await ws.send_str(json.dumps(frame))
        await self.dispatch("RESUMED", {})
        await self.state.notify()
