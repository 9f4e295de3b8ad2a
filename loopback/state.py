"""What the loopback Discord holds: the world a bot sees, the messages, interactions and transcript.

No I/O here: the REST routes, the gateway and the test driver read and change this state, and a
test reads it to see what the bot did.
"""

from __future__ import annotations

import asyncio
import io
import mimetypes
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

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
from loopback.rules import EPHEMERAL, LOADING

DEFAULT_SIZE_LIMIT = 10 * 1024 * 1024


class LoopbackError(Exception):
    """Raised to a test that drives the loopback Discord wrongly (unknown command, option, …)."""


@dataclass
class Attachment:
    """An uploaded file; ``index`` is the n of its ``files[n]`` form field."""

    id: int
    filename: str
    data: bytes
    content_type: str | None = None
    index: int = 0

    def payload(self, base: str) -> dict[str, Any]:
        """As Discord describes an attachment; ``base`` is the loopback's CDN (it serves the
        bytes at ``url``, as cdn.discordapp.com does). Pictures also carry their size."""
        url = f"{base}/attachments/{self.id}/{quote(self.filename)}"
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": url,
            "proxy_url": url,
            "content_type": self.content_type
            or mimetypes.guess_type(self.filename)[0]
            or "application/octet-stream",
        }
        size = _picture_size(self.data)
        if size is not None:
            payload["width"], payload["height"] = size
        return payload


def _picture_size(data: bytes) -> tuple[int, int] | None:
    """A picture's width and height from its header (Discord reports them), else None."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            return opened.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


@dataclass(frozen=True)
class Upload:
    """A file a user attaches to a slash command's attachment option (``driver.slash``)."""

    data: bytes
    filename: str = "picture.png"
    content_type: str | None = None


_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass
class Mentions:
    """Who a message pings, resolved as Discord does from its content and ``allowed_mentions``
    (https://discord.com/developers/docs/resources/message#allowed-mentions-object)."""

    users: list[int] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    everyone: bool = False

    @classmethod
    def resolve(cls, content: str, allowed: dict[str, Any] | None) -> Mentions:
        if allowed is None:  # no allowed_mentions: everything in the content pings
            parse, users, roles = {"users", "roles", "everyone"}, set(), set()
        else:
            parse = set(allowed.get("parse") or [])
            users = {int(u) for u in allowed.get("users") or []}
            roles = {int(r) for r in allowed.get("roles") or []}
        named_users = [int(u) for u in _USER_MENTION.findall(content)]
        named_roles = [int(r) for r in _ROLE_MENTION.findall(content)]
        return cls(
            users=[u for u in dict.fromkeys(named_users) if "users" in parse or u in users],
            roles=[r for r in dict.fromkeys(named_roles) if "roles" in parse or r in roles],
            everyone="everyone" in parse and ("@everyone" in content or "@here" in content),
        )


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
    allowed_mentions: dict[str, Any] | None = None
    pinged: Mentions = field(default_factory=Mentions)
    nonce: str | None = None

    @property
    def mentions(self) -> list[int]:
        """The users this message pinged."""
        return self.pinged.users

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    def may_ping_everyone_or_roles(self) -> bool:
        """Whether ``allowed_mentions`` lets @everyone, @here or any role ping (absent = yes)."""
        allowed = self.allowed_mentions
        if allowed is None:
            return True
        return bool({"everyone", "roles"} & set(allowed.get("parse") or []) or allowed.get("roles"))

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
    """One request the bot made (the transcript), with the loopback's answer."""

    kind: str
    method: str
    path: str
    status: int
    at: float
    payload: Any = None
    files: list[Attachment] = field(default_factory=list)
    interaction_id: int | None = None
    message_id: int | None = None
    operation: str | None = None
    response: Any = None


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

    def describe(self) -> str:
        if self.type == 2:
            return f"/{self.data.get('name')}"
        if self.type == 3:
            return f"button {self.data.get('custom_id')}"
        if self.type == 5:
            return f"modal {self.data.get('custom_id')}"
        return f"autocomplete /{self.data.get('name')}"


class DiscordState:
    """One bot application's Discord: one guild (see ``FakeGuild``), DMs, commands, messages."""

    def __init__(
        self,
        *,
        token: str | None = None,
        ack_deadline: float = 3.0,
        token_lifetime: float = 15 * 60,
        attachment_size_limit: int = DEFAULT_SIZE_LIMIT,
    ) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.attachment_size_limit = attachment_size_limit
        self.application_id = snowflake()
        self.bot_user = FakeUser(self.application_id, "Muralist", bot=True)
        self.owner = FakeUser(snowflake(), "owner")
        self.guild = FakeGuild(owner_id=self.owner.id)
        self.guild.members[self.bot_user.id] = self.bot_user
        self.guild.members[self.owner.id] = self.owner
        self.dm_channels: dict[int, FakeChannel] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.interactions: dict[int, Interaction] = {}
        self.transcript: list[Sent] = []
        self.violations: list[str] = []
        self.identifies = 0
        self.resumes = 0
        self.permissions: dict[int, int] = {self.owner.id: ADMIN_PERMISSIONS}
        #: What the bot may do in the guild (its invite's permissions): interactions carry it as
        #: ``app_permissions``, ``GET /users/@me/guilds`` as ``permissions``.
        self.bot_permissions = ADMIN_PERMISSIONS
        #: A policy, not Discord's rule: every message must carry ``allowed_mentions`` that stop
        #: @everyone, @here and role pings (a bot's tests switch it on).
        self.quiet_mentions = False
        #: Discord checks an enforced nonce "for uniqueness in the past few minutes"; this is
        #: that window, and the nonces seen within it (nonce → message id, time created).
        self.nonce_window = 5 * 60.0
        self.nonces: dict[str, tuple[int, float]] = {}
        #: Called with each answer just before it is sent back to the bot (a test kills the bot
        #: here to crash it after Discord applied a request and before the bot heard of it).
        self.before_answer: Callable[[Sent], Awaitable[None]] | None = None
        self.changed = asyncio.Condition()
        self.ready = asyncio.Event()
        self.api_base = ""
        #: Where the loopback serves attachments' bytes (Discord's cdn.discordapp.com).
        self.cdn_base = ""
        #: Files users attached to commands, by attachment id (served on the CDN route).
        self.uploads: dict[int, Attachment] = {}
        #: The attachment ids the CDN served, in order (a test sees what was downloaded).
        self.downloads: list[int] = []

    # ----------------------------------------------------------------- the world
    def add_user(
        self,
        name: str,
        *,
        moderator: bool = False,
        permissions: int | None = None,
        roles: Sequence[int] = (),
    ) -> FakeUser:
        """A member of the guild (``roles``: more of the guild's roles, e.g. its Boosters)."""
        user = FakeUser(snowflake(), name)
        self.guild.members[user.id] = user
        given = [self.guild.moderator_role_id] if moderator else []
        if given or roles:
            self.guild.member_roles[user.id] = [*given, *roles]
        self.permissions[user.id] = (
            permissions
            if permissions is not None
            else (MODERATOR_PERMISSIONS if moderator else MEMBER_PERMISSIONS)
        )
        return user

    def dm(self, user: FakeUser) -> FakeChannel:
        """The DM channel between the bot and ``user`` (opened on first use)."""
        if user.id not in self.dm_channels:
            self.dm_channels[user.id] = FakeChannel(
                snowflake(), f"dm-{user.username}", recipient=user
            )
        return self.dm_channels[user.id]

    def channel(self, name_or_id: str | int) -> FakeChannel:
        for channel in self.dm_channels.values():
            if name_or_id == channel.id:
                return channel
        return self.guild.channel(name_or_id)

    def delete_channel(self, name: str) -> None:
        self.channel(name).deleted = True

    def deny_send(self, name: str) -> None:
        """Take Send Messages away from the bot in this channel."""
        self.channel(name).bot_can_send = False

    def expire_token(self, interaction: Interaction) -> None:
        interaction.expired = True

    def commands(self, *, in_dm: bool = False) -> list[dict[str, Any]]:
        """The commands a user sees: in the guild its own, then the global ones; in a DM only the
        global commands whose ``contexts`` include BOT_DM (1), or, without ``contexts``, those
        whose deprecated ``dm_permission`` is not false."""
        if not in_dm:
            return [*self.guild_commands.get(self.guild.id, []), *self.global_commands]
        return [c for c in self.global_commands if _allowed_in_dm(c)]

    def command(self, name: str, kind: int = 1, *, in_dm: bool = False) -> dict[str, Any]:
        for command in self.commands(in_dm=in_dm):
            if command["name"] == name and int(command.get("type", 1)) == kind:
                return command
        where = "in a DM" if in_dm else "in the guild"
        raise LoopbackError(f"the bot has no command {name!r} that a user can run {where}")

    # ----------------------------------------------------------------- messages
    def new_message(
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
            components=_numbered(data.get("components")),
            attachments=list(files),
            flags=flags,
            interaction_id=interaction_id,
            allowed_mentions=data.get("allowed_mentions"),
        )
        message.pinged = Mentions.resolve(message.content, message.allowed_mentions)
        self.messages[message.id] = message
        self._check_quiet(message)
        return message

    def apply_edit(
        self, message: StoredMessage, data: dict[str, Any], files: list[Attachment]
    ) -> None:
        for key in ("content", "embeds"):
            if key in data:
                setattr(
                    message,
                    key,
                    data[key] if data[key] is not None else type(getattr(message, key))(),
                )
        if "components" in data:
            message.components = _numbered(data["components"])
        if "attachments" in data:
            keep = {int(a["id"]) for a in data["attachments"] or []}
            message.attachments = [a for a in message.attachments if a.id in keep]
        message.attachments.extend(files)
        if "allowed_mentions" in data:
            message.allowed_mentions = data["allowed_mentions"]
        if "content" in data:
            message.pinged = Mentions.resolve(message.content, message.allowed_mentions)
            self._check_quiet(message)
        message.flags &= ~LOADING
        message.flags |= int(data.get("flags") or 0)
        message.edits += 1

    def history(self, channel_id: int) -> list[StoredMessage]:
        """A channel's messages as its history shows them to the bot, newest first (interaction
        replies included, ephemeral and deleted ones not)."""
        found = [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and not m.deleted and not m.ephemeral
        ]
        return sorted(found, key=lambda m: m.id, reverse=True)

    def message_payload(self, message: StoredMessage) -> dict[str, Any]:
        channel = self.channel(message.channel_id)
        payload = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": self.bot_user.payload(),
            "content": message.content,
            "timestamp": iso_now(),
            "edited_timestamp": iso_now() if message.edits else None,
            "tts": False,
            "mention_everyone": message.pinged.everyone,
            "mentions": [
                self.guild.members[u].payload() for u in message.mentions if u in self.guild.members
            ],
            "mention_roles": [str(r) for r in message.pinged.roles],
            "attachments": [a.payload(self.cdn_base) for a in message.attachments],
            "embeds": message.embeds,
            "components": message.components,
            "pinned": False,
            "type": 20 if message.interaction_id else 0,
            "flags": message.flags,
            "application_id": str(self.application_id),
        }
        if message.interaction_id:
            payload["webhook_id"] = str(self.application_id)
        if not channel.is_dm:
            payload["guild_id"] = str(self.guild.id)
        return payload

    def _check_quiet(self, message: StoredMessage) -> None:
        if self.quiet_mentions and message.content and message.may_ping_everyone_or_roles():
            self.violation(
                f"message {message.id} ({message.content[:40]!r}): allowed_mentions "
                f"{message.allowed_mentions} lets @everyone, @here or roles ping"
            )

    # ----------------------------------------------------------------- records
    def record(self, sent: Sent) -> None:
        sent.at = time.monotonic()
        self.transcript.append(sent)

    def attachment(self, attachment_id: int) -> Attachment | None:
        """A file by id: one a user attached, or one the bot posted."""
        if attachment_id in self.uploads:
            return self.uploads[attachment_id]
        for message in self.messages.values():
            for attached in message.attachments:
                if attached.id == attachment_id:
                    return attached
        return None

    def violation(self, text: str) -> None:
        self.violations.append(text)

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


def _numbered(components: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Copies with an ``id`` on every component, as Discord numbers those sent without one
    (https://discord.com/developers/docs/components/reference#anatomy-of-a-component)."""
    counter = iter(range(1, 1000))
    taken = {c.get("id") for c in _flatten(components or [])}

    def number(component: dict[str, Any]) -> dict[str, Any]:
        copy = dict(component)
        if copy.get("id") is None:
            copy["id"] = next(i for i in counter if i not in taken)
        if isinstance(copy.get("components"), list):
            copy["components"] = [number(c) for c in copy["components"]]
        for key in ("accessory", "component"):
            if isinstance(copy.get(key), dict):
                copy[key] = number(copy[key])
        return copy

    return [number(c) for c in components or []]


def _flatten(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for component in components:
        found.append(component)
        found += _flatten(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                found.append(component[key])
    return found


def _allowed_in_dm(command: dict[str, Any]) -> bool:
    contexts = command.get("contexts")
    if contexts is not None:
        return 1 in contexts
    return command.get("dm_permission") is not False
