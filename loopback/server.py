"""A loopback Discord: REST API v10 and the gateway, on 127.0.0.1, for the real discord.py client.

Tests (and ``muralist demo``) point the bot at it (``discord.http.Route.BASE`` and the gateway
default: ``bot.endpoints.point_discord_py_at``), then act as Discord would: dispatch interactions
from users in channels and read back what the bot sent. Everything the bot sends is checked against
Discord's documented limits (``loopback.limits``) and the interaction rules (first response
within 3 s, tokens valid 15 minutes, one initial response, uploads within the announced
``attachment_size_limit``); every breach is recorded in ``violations`` and answered with Discord's
error shape, so a test fixture can fail on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from loopback import limits
from loopback.fixtures import (
    ADMIN_PERMISSIONS,
    MEMBER_PERMISSIONS,
    MODERATOR_PERMISSIONS,
    FakeChannel,
    FakeGuild,
    FakeUser,
    iso_now,
    snowflake,
)

DEFAULT_SIZE_LIMIT = 10 * 1024 * 1024
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
EPHEMERAL = 64
LOADING = 128
ROLE_OPTION = 8  # an application command option's type for a role


class LoopbackError(Exception):
    """Raised to a test that drives the loopback Discord wrongly (unknown command, option, …)."""


@dataclass
class Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None = None

    def payload(self, base: str) -> dict[str, Any]:
        url = f"{base}/attachments/{self.id}/{self.filename}"
        return {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": url,
            "proxy_url": url,
            "content_type": self.content_type or "application/octet-stream",
        }


@dataclass
class StoredMessage:
    """A message as Discord holds it: what the bot last set, and its history of edits."""

    id: int
    channel_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    interaction_id: int | None = None
    deleted: bool = False
    edits: int = 0
    mentions: list[int] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    def custom_ids(self) -> list[str]:
        return [
            child["custom_id"]
            for row in self.components
            for child in row.get("components", [])
            if child.get("custom_id")
        ]

    def button(self, label: str) -> str:
        """The custom_id of the button with this label (or emoji name)."""
        for row in self.components:
            for child in row.get("components", []):
                names = {child.get("label"), (child.get("emoji") or {}).get("name")}
                if label in names:
                    return str(child["custom_id"])
        raise LoopbackError(f"no button {label!r} on message {self.id}: {self.custom_ids()}")


@dataclass
class Sent:
    """One request the bot made (the transcript)."""

    kind: str
    method: str
    path: str
    status: int
    at: float
    payload: dict[str, Any] | None = None
    files: list[Attachment] = field(default_factory=list)
    interaction_id: int | None = None
    message_id: int | None = None


@dataclass
class Interaction:
    """An interaction the loopback dispatched, and what the bot answered to it."""

    id: int
    token: str
    type: int
    user: FakeUser
    channel_id: int
    created: float
    size_limit: int
    data: dict[str, Any]
    source_message_id: int | None = None
    response_type: int | None = None
    responded_after: float | None = None
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    expired: bool = False


@dataclass
class _Session:
    session_id: str
    seq: int = 0
    backlog: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None


class LoopbackDiscord:
    """Discord on 127.0.0.1 for one bot application, with one guild (see ``FakeGuild``)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        ack_deadline: float = 3.0,
        token_lifetime: float = 15 * 60,
        attachment_size_limit: int = DEFAULT_SIZE_LIMIT,
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.attachment_size_limit = attachment_size_limit
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.application_id = snowflake()
        self.bot_user = FakeUser(self.application_id, "Muralist", bot=True)
        self.owner = FakeUser(snowflake(), "owner")
        self.guild = FakeGuild(owner_id=self.owner.id)
        self.guild.members[self.bot_user.id] = self.bot_user
        self.guild.members[self.owner.id] = self.owner
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.interactions: dict[int, Interaction] = {}
        self.transcript: list[Sent] = []
        self.violations: list[str] = []
        self.identifies = 0
        self._permissions: dict[int, int] = {self.owner.id: ADMIN_PERMISSIONS}
        self.resumes = 0
        self._session: _Session | None = None
        self._ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._timers: list[asyncio.TimerHandle] = []

    # ----------------------------------------------------------------- life cycle
    async def start(self) -> LoopbackDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._session and self._session.ws is not None:
            await self._session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> LoopbackDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    async def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Until a bot has identified and received READY and GUILD_CREATE."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # ----------------------------------------------------------------- the world
    def add_user(
        self, name: str, *, moderator: bool = False, permissions: int | None = None
    ) -> FakeUser:
        user = FakeUser(snowflake(), name)
        self.guild.members[user.id] = user
        if moderator:
            self.guild.member_roles[user.id] = [self.guild.moderator_role_id]
        self._permissions[user.id] = (
            permissions
            if permissions is not None
            else (MODERATOR_PERMISSIONS if moderator else MEMBER_PERMISSIONS)
        )
        return user

    def channel(self, name_or_id: str | int) -> FakeChannel:
        return self.guild.channel(name_or_id)

    def delete_channel(self, name: str) -> None:
        self.channel(name).deleted = True

    def deny_send(self, name: str) -> None:
        """Take Send Messages away from the bot in this channel."""
        self.channel(name).bot_can_send = False

    def expire_token(self, interaction: Interaction) -> None:
        interaction.expired = True

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket as a network failure would; discord.py then RESUMEs."""
        if self._session and self._session.ws is not None:
            ws, self._session.ws = self._session.ws, None
            await ws.close(code=code, message=b"loopback drop")

    def commands(self) -> list[dict[str, Any]]:
        """The commands a user of the guild sees: the guild's, then the global ones."""
        return [*self.guild_commands.get(self.guild.id, []), *self.global_commands]

    def command(self, name: str, kind: int = 1) -> dict[str, Any]:
        for command in self.commands():
            if command["name"] == name and int(command.get("type", 1)) == kind:
                return command
        raise LoopbackError(f"the bot has not synced a command {name!r}")

    # ----------------------------------------------------------------- acting as Discord
    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: FakeUser,
        channel: str | int = "art",
    ) -> Interaction:
        """A user runs ``/name`` (``"group sub"`` for sub-commands) with these option values."""
        words = name.split()
        command = self.command(words[0])
        data_options = self._options(command, words[1:], options or {}, focused=None)
        data = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": data_options,
            "guild_id": command.get("guild_id"),
        }
        self._add_resolved(data, command, words[1:], options or {})
        return await self._dispatch_interaction(2, data, user=user, channel=channel)

    async def message_command(
        self, name: str, message: StoredMessage, *, user: FakeUser
    ) -> Interaction:
        """A user picks Apps → ``name`` on ``message`` (a message context-menu command)."""
        command = self.command(name, kind=3)
        data = {
            "id": command["id"],
            "name": command["name"],
            "type": 3,
            "target_id": str(message.id),
            "resolved": {"messages": {str(message.id): self._message_payload(message)}},
            "guild_id": command.get("guild_id"),
        }
        return await self._dispatch_interaction(2, data, user=user, channel=message.channel_id)

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        user: FakeUser,
        channel: str | int = "art",
    ) -> list[dict[str, Any]]:
        """A user types into option ``focused``; returns the choices the bot offered."""
        words = name.split()
        command = self.command(words[0])
        data = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": self._options(command, words[1:], options, focused=focused),
        }
        record = await self._dispatch_interaction(4, data, user=user, channel=channel)
        await self.wait_for(lambda: record.choices is not None)
        return record.choices or []

    async def click(self, message: StoredMessage, custom_id: str, *, user: FakeUser) -> Interaction:
        """A user presses the button ``custom_id`` on ``message``."""
        if message.deleted:
            raise LoopbackError(f"message {message.id} was deleted")
        if custom_id not in message.custom_ids():
            raise LoopbackError(f"no component {custom_id!r} on message {message.id}")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._dispatch_interaction(
            3, data, user=user, channel=message.channel_id, message=message
        )

    async def submit_modal(self, opened_by: Interaction, values: dict[str, str]) -> Interaction:
        """The user who got a modal from ``opened_by`` fills ``values`` (custom_id → text)."""
        await self.wait_for(lambda: opened_by.modal is not None)
        modal = opened_by.modal or {}
        rows = []
        for row in modal.get("components", []):
            label_style = row.get("type") == 18
            inputs = [row["component"]] if label_style else row.get("components", [])
            submitted = [
                {
                    "type": item["type"],
                    "custom_id": item["custom_id"],
                    "value": values.get(item["custom_id"], item.get("value") or ""),
                }
                for item in inputs
            ]
            rows.append(
                {"type": 18, "component": submitted[0]}
                if label_style
                else {"type": 1, "components": submitted}
            )
        unknown = set(values) - {c["custom_id"] for r in rows for c in _children(r)}
        if unknown:
            raise LoopbackError(f"the modal has no fields {sorted(unknown)}")
        data = {"custom_id": modal["custom_id"], "components": rows}
        source = self.messages.get(opened_by.source_message_id or 0)
        return await self._dispatch_interaction(
            5, data, user=opened_by.user, channel=opened_by.channel_id, message=source
        )

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Until ``predicate()`` holds (checked after every request the bot makes, and 20×/s)."""

        async def waiter() -> None:
            async with self._changed:
                while not predicate():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.05)

        try:
            await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the loopback Discord waited {timeout}s; last requests: "
                + "; ".join(f"{s.kind} {s.status}" for s in self.transcript[-5:])
            ) from None

    async def wait_response(self, interaction: Interaction, timeout: float = 30.0) -> None:
        await self.wait_for(lambda: interaction.response_type is not None, timeout)

    async def wait_original(
        self,
        interaction: Interaction,
        predicate: Callable[[StoredMessage], bool],
        timeout: float = 60.0,
    ) -> StoredMessage:
        """The interaction's original response once ``predicate`` holds for it."""

        def done() -> bool:
            original = self.messages.get(interaction.original_id or 0)
            return original is not None and predicate(original)

        await self.wait_for(done, timeout)
        return self.messages[interaction.original_id or 0]

    def original(self, interaction: Interaction) -> StoredMessage:
        if interaction.original_id is None:
            raise LoopbackError(f"interaction {interaction.id} has no original response")
        return self.messages[interaction.original_id]

    def followups(self, interaction: Interaction) -> list[StoredMessage]:
        return [self.messages[i] for i in interaction.followup_ids]

    def channel_messages(self, channel: str | int) -> list[StoredMessage]:
        channel_id = self.channel(channel).id
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and not m.deleted and m.interaction_id is None
        ]

    def transcript_json(self) -> list[dict[str, Any]]:
        """The transcript as plain JSON (attachments by name and size)."""
        return [
            {
                "kind": s.kind,
                "method": s.method,
                "path": s.path.replace(self.api_base, ""),
                "status": s.status,
                "interaction_id": s.interaction_id,
                "message_id": s.message_id,
                "payload": s.payload,
                "files": [{"filename": f.filename, "size": len(f.data)} for f in s.files],
            }
            for s in self.transcript
        ]

    # ----------------------------------------------------------------- interactions
    def _options(
        self,
        command: dict[str, Any],
        path: list[str],
        values: dict[str, Any],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        definitions = command.get("options") or []
        if path:
            for option in definitions:
                if option["name"] == path[0] and option["type"] in (1, 2):
                    inner = self._options(option, path[1:], values, focused)
                    return [{"name": option["name"], "type": option["type"], "options": inner}]
            raise LoopbackError(f"/{command['name']} has no sub-command {path[0]!r}")
        by_name = {o["name"]: o for o in definitions}
        result = []
        for name, value in values.items():
            if name not in by_name:
                raise LoopbackError(f"/{command['name']} has no option {name!r}: {list(by_name)}")
            kind = by_name[name]["type"]
            wire = str(value.id) if isinstance(value, FakeUser | FakeChannel) else value
            if kind == ROLE_OPTION:
                wire = str(value)
            entry: dict[str, Any] = {"name": name, "type": kind, "value": wire}
            if name == focused:
                entry["focused"] = True
            result.append(entry)
        if focused is None:
            missing = [
                o["name"] for o in definitions if o.get("required") and o["name"] not in values
            ]
            if missing:
                raise LoopbackError(f"/{command['name']} needs options {missing}")
        return result

    def _add_resolved(
        self, data: dict[str, Any], command: dict[str, Any], path: list[str], values: dict[str, Any]
    ) -> None:
        """Discord sends the users, members, channels and roles the options name in full."""
        definitions = command.get("options") or []
        for word in path:
            definitions = next(o for o in definitions if o["name"] == word).get("options") or []
        role_options = {o["name"] for o in definitions if o["type"] == ROLE_OPTION}
        roles = {
            str(value): self.guild.role_payload(int(value))
            for name, value in values.items()
            if name in role_options
        }
        users = {str(v.id): v.payload() for v in values.values() if isinstance(v, FakeUser)}
        channels = {
            str(v.id): v.payload(self.guild.id) | {"permissions": str(MEMBER_PERMISSIONS)}
            for v in values.values()
            if isinstance(v, FakeChannel)
        }
        resolved: dict[str, Any] = {}
        if users:
            resolved["users"] = users
            resolved["members"] = {
                uid: {
                    k: v
                    for k, v in self.guild.member_payload(self.guild.members[int(uid)]).items()
                    if k != "user"
                }
                | {"permissions": str(MEMBER_PERMISSIONS)}
                for uid in users
                if int(uid) in self.guild.members
            }
        if channels:
            resolved["channels"] = channels
        if roles:
            resolved["roles"] = roles
        if resolved:
            data["resolved"] = resolved

    async def _dispatch_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: FakeUser,
        channel: str | int,
        message: StoredMessage | None = None,
    ) -> Interaction:
        if self._session is None:
            raise LoopbackError("no bot is connected to the loopback Discord")
        target = self.channel(channel)
        record = Interaction(
            id=snowflake(),
            token=secrets.token_urlsafe(48),
            type=kind,
            user=user,
            channel_id=target.id,
            created=time.monotonic(),
            size_limit=self.attachment_size_limit,
            data=data,
            source_message_id=message.id if message else None,
        )
        self.interactions[record.id] = record
        permissions = self._permissions.get(user.id, MEMBER_PERMISSIONS)
        payload: dict[str, Any] = {
            "id": str(record.id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": record.token,
            "version": 1,
            "attachment_size_limit": record.size_limit,
            "guild_id": str(self.guild.id),
            "guild": {"id": str(self.guild.id), "locale": "en-US", "features": []},
            "channel_id": str(target.id),
            "channel": target.payload(self.guild.id),
            "member": self.guild.member_payload(user, permissions),
            "app_permissions": str(ADMIN_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild.id)},
            "context": 0,
            "data": data,
        }
        if message is not None:
            payload["message"] = self._message_payload(message)
        if kind != 4:  # autocomplete has its own 3 s, checked on the result
            loop = asyncio.get_running_loop()
            self._timers.append(
                loop.call_later(self.ack_deadline + 0.05, self._check_answered, record)
            )
        await self._dispatch("INTERACTION_CREATE", payload)
        return record

    def _check_answered(self, record: Interaction) -> None:
        if record.response_type is None:
            self._violation(
                f"interaction {record.id} ({_describe(record)}): no response within "
                f"{self.ack_deadline:g}s (the user sees 'The application did not respond')"
            )

    # ----------------------------------------------------------------- gateway
    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        session = self._session
        assert session is not None
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.backlog.append(frame)
        del session.backlog[:-2000]
        if session.ws is not None and not session.ws.closed:
            await session.ws.send_str(json.dumps(frame))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
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
        if self._session is not None and self._session.ws is ws:
            self._session.ws = None
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        if int(data.get("intents", 0)) & PRIVILEGED_INTENTS:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.identifies += 1
        self._session = _Session(session_id=secrets.token_hex(16), ws=ws)
        await self._dispatch(
            "READY",
            {
                "v": 10,
                "user": self.bot_user.payload(),
                "guilds": [{"id": str(self.guild.id), "unavailable": True}],
                "session_id": self._session.session_id,
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
        )
        await self._dispatch("GUILD_CREATE", self.guild.payload())
        self._ready.set()

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        session = self._session
        if (
            session is None
            or data.get("token") != self.token
            or data.get("session_id") != session.session_id
        ):
            await ws.send_str(json.dumps({"op": 9, "d": False}))
            return
        self.resumes += 1
        session.ws = ws
        after = int(data.get("seq") or 0)
        for frame in [f for f in session.backlog if f["s"] > after]:
            await ws.send_str(json.dumps(frame))
        await self._dispatch("RESUMED", {})
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------- REST
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        parts = request.match_info["tail"].strip("/").split("/")
        method = request.method
        try:
            handler = self._route(method, parts)
            if handler is None:
                self._violation(f"unsupported endpoint {method} /{'/'.join(parts)}")
                return _error(404, 0, "404: Not Found")
            return await handler(request, parts)
        finally:
            async with self._changed:
                self._changed.notify_all()

    def _route(self, method: str, parts: list[str]) -> Any:
        head, size = parts[0], len(parts)
        table: list[tuple[str, str, int, Any]] = [
            ("GET", "users", 2, self._get_me),
            ("GET", "oauth2", 3, self._get_application),
            ("GET", "gateway", 1, self._get_gateway),
            ("GET", "gateway", 2, self._get_gateway),
            ("PUT", "applications", 3, self._put_commands),
            ("PUT", "applications", 5, self._put_commands),
            ("GET", "applications", 3, self._get_commands),
            ("GET", "applications", 5, self._get_commands),
            ("POST", "interactions", 4, self._callback),
            ("POST", "webhooks", 3, self._followup),
            ("GET", "webhooks", 5, self._webhook_message),
            ("PATCH", "webhooks", 5, self._webhook_message),
            ("DELETE", "webhooks", 5, self._webhook_message),
            ("GET", "channels", 2, self._get_channel),
            ("POST", "channels", 3, self._channel_send),
            ("GET", "channels", 4, self._channel_message),
            ("PATCH", "channels", 4, self._channel_message),
            ("DELETE", "channels", 4, self._channel_message),
        ]
        for verb, name, length, handler in table:
            if verb == method and name == head and length == size:
                return handler
        return None

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _get_me(self, request: web.Request, parts: list[str]) -> web.Response:
        if not self._authorized(request):
            return _error(401, 0, "401: Unauthorized")
        return _json(self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "flags": 0})

    async def _get_application(self, request: web.Request, parts: list[str]) -> web.Response:
        if not self._authorized(request):
            return _error(401, 0, "401: Unauthorized")
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user.username,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner.payload(),
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
            }
        )

    async def _get_gateway(self, request: web.Request, parts: list[str]) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _put_commands(self, request: web.Request, parts: list[str]) -> web.Response:
        if not self._authorized(request) or parts[1] != str(self.application_id):
            return _error(401, 0, "401: Unauthorized")
        body = await request.json()
        problems = limits.check_commands(body)
        guild_id = int(parts[3]) if len(parts) == 5 else None
        if guild_id is not None and guild_id != self.guild.id:
            problems.append(f"unknown guild {guild_id}")
        self._record("commands", request, 400 if problems else 200, payload={"commands": body})
        if problems:
            return self._reject(problems, f"PUT {request.path}")
        stored = []
        for command in body:
            entry = dict(command)
            entry.setdefault("type", 1)
            entry.setdefault("description", "")  # Discord answers "" for context menus
            entry["id"] = str(snowflake())
            entry["application_id"] = str(self.application_id)
            entry["version"] = str(snowflake())
            entry["default_member_permissions"] = command.get("default_member_permissions")
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        return _json(stored)

    async def _get_commands(self, request: web.Request, parts: list[str]) -> web.Response:
        if len(parts) == 5:
            return _json(self.guild_commands.get(int(parts[3]), []))
        return _json(self.global_commands)

    async def _callback(self, request: web.Request, parts: list[str]) -> web.Response:
        record = self.interactions.get(int(parts[1])) if parts[1].isdigit() else None
        body, files = await _read_body(request)
        if record is None or record.token != parts[2]:
            self._record("callback", request, 404, payload=body, files=files)
            self._violation(f"callback for an unknown interaction {parts[1]}")
            return _error(404, 10062, "Unknown interaction")
        elapsed = time.monotonic() - record.created
        kind = int(body.get("type", 0))
        if record.response_type is not None:
            self._record("callback", request, 400, body, files, record)
            self._violation(f"interaction {record.id}: a second initial response (type {kind})")
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if elapsed > self.ack_deadline:
            self._record("callback", request, 404, body, files, record)
            self._violation(
                f"interaction {record.id} ({_describe(record)}): first response after "
                f"{elapsed:.2f}s (limit {self.ack_deadline:g}s)"
            )
            return _error(404, 10062, "Unknown interaction")
        data = body.get("data") or {}
        problems = self._callback_problems(record, kind, data, files)
        if problems:
            self._record("callback", request, 400, body, files, record)
            return self._reject(problems, f"callback {kind} to {_describe(record)}")
        record.response_type = kind
        record.responded_after = elapsed
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            message = self._new_message(record.channel_id, data, files, flags, record.id)
            record.original_id = message.id
            resource["message"] = self._message_payload(message)
        elif kind in (6, 7):
            record.original_id = record.source_message_id
            if kind == 7 and record.source_message_id is not None:
                source = self.messages[record.source_message_id]
                self._apply_edit(source, data, files)
                resource["message"] = self._message_payload(source)
        elif kind == 8:
            record.choices = list(data.get("choices") or [])
        elif kind == 9:
            record.modal = data
        self._record("callback", request, 200, body, files, record, record.original_id)
        return _json(
            {
                "interaction": {
                    "id": str(record.id),
                    "type": record.type,
                    "response_message_id": str(record.original_id) if record.original_id else None,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
                },
                "resource": resource,
            }
        )

    def _callback_problems(
        self, record: Interaction, kind: int, data: dict[str, Any], files: list[Attachment]
    ) -> list[str]:
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}[record.type]
        if kind not in allowed:
            return [f"callback type {kind} is not allowed for interaction type {record.type}"]
        if kind == 8:
            return limits.check_choices("choices", data.get("choices") or [])
        if kind == 9:
            return limits.check_modal(data)
        if kind in (6, 7) and record.source_message_id is None:
            return [f"callback type {kind} needs a component interaction"]
        return limits.check_message(data, len(files)) + self._size_problems(
            files, record.size_limit
        )

    def _size_problems(self, files: list[Attachment], limit: int) -> list[str]:
        return [
            f"file {f.filename!r}: {len(f.data)} bytes over the upload limit of {limit}"
            for f in files
            if len(f.data) > limit
        ]

    def _interaction_for_token(
        self,
        request: web.Request,
        parts: list[str],
        body: dict[str, Any] | None,
        files: list[Attachment],
    ) -> tuple[Interaction | None, web.Response | None]:
        token = parts[2]
        record = next((r for r in self.interactions.values() if r.token == token), None)
        if record is None or parts[1] != str(self.application_id):
            self._record("webhook", request, 404, body, files)
            self._violation(f"{request.method} {_short(request)}: unknown webhook")
            return None, _error(404, 10015, "Unknown Webhook")
        if record.expired or time.monotonic() - record.created > self.token_lifetime:
            self._record("webhook", request, 401, body, files, record)
            self._violation(
                f"{request.method} {_short(request)}: interaction token of {_describe(record)} "
                "used after it expired"
            )
            return None, _error(401, 50027, "Invalid Webhook Token")
        if record.response_type is None:
            self._record("webhook", request, 404, body, files, record)
            self._violation(f"{_describe(record)}: webhook used before the initial response")
            return None, _error(404, 10015, "Unknown Webhook")
        return record, None

    async def _followup(self, request: web.Request, parts: list[str]) -> web.Response:
        body, files = await _read_body(request)
        record, error = self._interaction_for_token(request, parts, body, files)
        if record is None:
            assert error is not None
            return error
        problems = limits.check_message(body, len(files)) + self._size_problems(
            files, record.size_limit
        )
        if not (body.get("content") or body.get("embeds") or files or body.get("components")):
            problems.append("cannot send an empty message")
        if problems:
            self._record("followup", request, 400, body, files, record)
            return self._reject(problems, f"follow-up to {_describe(record)}")
        original = self.messages.get(record.original_id or 0)
        if record.response_type == 5 and original and original.loading and not original.deleted:
            # As Discord does: the first follow-up after a defer replaces the "thinking…" message
            # (keeping the defer's ephemerality).
            self._apply_edit(original, body, files)
            self._record("followup", request, 200, body, files, record, original.id)
            return _json(self._message_payload(original))
        message = self._new_message(
            record.channel_id, body, files, int(body.get("flags") or 0), record.id
        )
        record.followup_ids.append(message.id)
        self._record("followup", request, 200, body, files, record, message.id)
        return _json(self._message_payload(message))

    async def _webhook_message(self, request: web.Request, parts: list[str]) -> web.Response:
        body, files = await _read_body(request) if request.method == "PATCH" else ({}, [])
        record, error = self._interaction_for_token(request, parts, body, files)
        if record is None:
            assert error is not None
            return error
        message_id = record.original_id if parts[4] == "@original" else int(parts[4])
        if message_id is None or (
            message_id != record.original_id and message_id not in record.followup_ids
        ):
            self._record("webhook", request, 404, body, files, record)
            self._violation(f"{_describe(record)}: no message {parts[4]} to {request.method}")
            return _error(404, 10008, "Unknown Message")
        message = self.messages[message_id]
        kind = "original" if parts[4] == "@original" else "followup"
        return await self._message_action(request, message, body, files, record, kind)

    async def _message_action(
        self,
        request: web.Request,
        message: StoredMessage,
        body: dict[str, Any],
        files: list[Attachment],
        record: Interaction | None,
        kind: str,
    ) -> web.Response:
        if message.deleted:
            self._record(f"{request.method.lower()}_{kind}", request, 404, body, files, record)
            return _error(404, 10008, "Unknown Message")
        if request.method == "GET":
            return _json(self._message_payload(message))
        if request.method == "DELETE":
            message.deleted = True
            self._record(f"delete_{kind}", request, 204, None, [], record, message.id)
            return web.Response(status=204)
        limit = record.size_limit if record else self.attachment_size_limit
        problems = limits.check_message(body, len(files)) + self._size_problems(files, limit)
        if problems:
            self._record(f"edit_{kind}", request, 400, body, files, record, message.id)
            return self._reject(problems, f"edit of message {message.id}")
        self._apply_edit(message, body, files)
        self._record(f"edit_{kind}", request, 200, body, files, record, message.id)
        return _json(self._message_payload(message))

    async def _get_channel(self, request: web.Request, parts: list[str]) -> web.Response:
        try:
            channel = self.channel(int(parts[1]))
        except (KeyError, ValueError):
            return _error(404, 10003, "Unknown Channel")
        if channel.deleted:
            return _error(404, 10003, "Unknown Channel")
        return _json(channel.payload(self.guild.id))

    async def _channel_send(self, request: web.Request, parts: list[str]) -> web.Response:
        body, files = await _read_body(request)
        if not self._authorized(request):
            return _error(401, 0, "401: Unauthorized")
        try:
            channel = self.channel(int(parts[1]))
        except (KeyError, ValueError):
            channel = None
        if channel is None or channel.deleted:
            self._record("channel_message", request, 404, body, files)
            return _error(404, 10003, "Unknown Channel")
        if not channel.bot_can_send:
            self._record("channel_message", request, 403, body, files)
            return _error(403, 50013, "Missing Permissions")
        problems = limits.check_message(body, len(files)) + self._size_problems(
            files, self.attachment_size_limit
        )
        if problems:
            self._record("channel_message", request, 400, body, files)
            return self._reject(problems, f"message to #{channel.name}")
        message = self._new_message(channel.id, body, files, int(body.get("flags") or 0), None)
        self._record("channel_message", request, 200, body, files, message_id=message.id)
        return _json(self._message_payload(message))

    async def _channel_message(self, request: web.Request, parts: list[str]) -> web.Response:
        if not self._authorized(request):
            return _error(401, 0, "401: Unauthorized")
        body, files = await _read_body(request) if request.method == "PATCH" else ({}, [])
        message = self.messages.get(int(parts[3])) if parts[3].isdigit() else None
        if message is None or str(message.channel_id) != parts[1]:
            return _error(404, 10008, "Unknown Message")
        return await self._message_action(request, message, body, files, None, "channel")

    # ----------------------------------------------------------------- messages
    def _new_message(
        self,
        channel_id: int,
        data: dict[str, Any],
        files: list[Attachment],
        flags: int,
        interaction_id: int | None,
    ) -> StoredMessage:
        message = StoredMessage(
            id=snowflake(),
            channel_id=channel_id,
            content=data.get("content") or "",
            embeds=list(data.get("embeds") or []),
            components=list(data.get("components") or []),
            attachments=list(files),
            flags=flags,
            interaction_id=interaction_id,
            mentions=_mentions(data),
        )
        self.messages[message.id] = message
        return message

    def _apply_edit(
        self, message: StoredMessage, data: dict[str, Any], files: list[Attachment]
    ) -> None:
        for key in ("content", "embeds", "components"):
            if key in data:
                setattr(
                    message,
                    key,
                    data[key] if data[key] is not None else type(getattr(message, key))(),
                )
        if "attachments" in data:
            keep = {
                int(a["id"]) for a in data["attachments"] or [] if str(a.get("id", "")).isdigit()
            }
            message.attachments = [a for a in message.attachments if a.id in keep]
        message.attachments.extend(files)
        message.flags &= ~LOADING
        message.edits += 1

    def _message_payload(self, message: StoredMessage) -> dict[str, Any]:
        return {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "guild_id": str(self.guild.id),
            "author": self.bot_user.payload(),
            "content": message.content,
            "timestamp": iso_now(),
            "edited_timestamp": iso_now() if message.edits else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.payload(self.api_base) for a in message.attachments],
            "embeds": message.embeds,
            "components": message.components,
            "pinned": False,
            "type": 20 if message.interaction_id else 0,
            "flags": message.flags,
            "application_id": str(self.application_id),
            "webhook_id": str(self.application_id) if message.interaction_id else None,
        }

    # ----------------------------------------------------------------- records
    def _record(
        self,
        kind: str,
        request: web.Request,
        status: int,
        payload: dict[str, Any] | None = None,
        files: list[Attachment] | None = None,
        record: Interaction | None = None,
        message_id: int | None = None,
    ) -> None:
        self.transcript.append(
            Sent(
                kind=kind,
                method=request.method,
                path=request.path,
                status=status,
                at=time.monotonic(),
                payload=payload,
                files=list(files or []),
                interaction_id=record.id if record else None,
                message_id=message_id,
            )
        )

    def _violation(self, text: str) -> None:
        self.violations.append(text)

    def _reject(self, problems: list[str], where: str) -> web.Response:
        for problem in problems:
            self._violation(f"{where}: {problem}")
        errors = {"_errors": [{"code": "BASE_TYPE_INVALID", "message": p} for p in problems]}
        if any("upload limit" in p for p in problems):
            return _error(413, 40005, "Request entity too large")
        return _error(400, 50035, "Invalid Form Body", {"payload": errors})


def _children(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [row["component"]] if row.get("type") == 18 else list(row.get("components", []))


def _mentions(data: dict[str, Any]) -> list[int]:
    allowed = data.get("allowed_mentions") or {}
    return [int(u) for u in allowed.get("users") or []]


def _describe(record: Interaction) -> str:
    if record.type == 2:
        return f"/{record.data.get('name')}"
    if record.type == 3:
        return f"button {record.data.get('custom_id')}"
    if record.type == 5:
        return f"modal {record.data.get('custom_id')}"
    return f"autocomplete /{record.data.get('name')}"


def _short(request: web.Request) -> str:
    parts = request.path.split("/")
    return "/".join(p if len(p) < 40 else p[:6] + "…" for p in parts)


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py compares the content type with ``==``: no charset suffix.
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json"},
    )


def _error(
    status: int, code: int, message: str, errors: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return _json(body, status)


async def _read_body(request: web.Request) -> tuple[dict[str, Any], list[Attachment]]:
    """A JSON body, or multipart ``payload_json`` + ``files[n]`` as discord.py sends them."""
    if not request.can_read_body:
        return {}, []
    if request.content_type.startswith("multipart/"):
        payload: dict[str, Any] = {}
        files: list[Attachment] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name
            data = await part.read()
            if name == "payload_json":
                payload = json.loads(data)
            elif name and name.startswith("files["):
                filename = getattr(part, "filename", None) or "file"
                content_type = part.headers.get("Content-Type")
                files.append(Attachment(snowflake(), filename, bytes(data), content_type))
        return payload, files
    raw = await request.read()
    return (json.loads(raw) if raw else {}), []
