"""The test driver: users who run slash commands, click buttons, fill modals — and the waits
that let a test read what the bot answered.

Each action builds the interaction Discord would send (with the options, the resolved users,
channels and roles, the member's permissions) and dispatches it on the gateway; the reply comes
back through the REST routes into the shared state.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from loopback.fixtures import (
    MEMBER_PERMISSIONS,
    FakeChannel,
    FakeUser,
    snowflake,
)
from loopback.gateway import Gateway
from loopback.spec import breaches, load_spec
from loopback.state import (
    Attachment,
    DiscordState,
    Interaction,
    LoopbackError,
    StoredMessage,
    Upload,
)

ROLE_OPTION = 8  # an application command option's type for a role
ATTACHMENT_OPTION = 11  # an application command option's type for a file
ATTACHMENT_SCHEMA = "/components/schemas/AttachmentResponse"
_CONTEXT_GUILD, _CONTEXT_BOT_DM = 0, 1


class Driver(DiscordState):
    """Acts as Discord's users for a test; needs a connected bot on ``gateway``."""

    gateway: Gateway

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._timers: list[asyncio.TimerHandle] = []

    # ----------------------------------------------------------------- actions
    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: FakeUser,
        channel: str | int = "art",
        in_dm: bool = False,
    ) -> Interaction:
        """A user runs ``/name`` (``"group sub"`` for sub-commands) with these option values,
        in a guild channel or (``in_dm``) in their DM with the bot. An attachment option's
        value is an ``Upload`` (bytes and a file name): it is stored, described in
        ``data.resolved.attachments`` and served on the loopback's CDN."""
        words = name.split()
        command = self.command(words[0], in_dm=in_dm)
        options = {
            k: self._attach(v) if isinstance(v, Upload) else v for k, v in (options or {}).items()
        }
        data_options = self._options(command, words[1:], options or {}, focused=None)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": data_options,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        self._add_resolved(data, command, words[1:], options or {})
        where = self.dm(user) if in_dm else self.channel(channel)
        return await self._dispatch_interaction(2, data, user=user, channel=where)

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
            "resolved": {"messages": {str(message.id): self.message_payload(message)}},
            "guild_id": command.get("guild_id"),
        }
        return await self._dispatch_interaction(
            2, data, user=user, channel=self.channel(message.channel_id)
        )

    async def user_command(
        self, name: str, target: FakeUser, *, user: FakeUser, channel: str | int = "art"
    ) -> Interaction:
        """A user picks Apps → ``name`` on ``target`` (a user context-menu command)."""
        command = self.command(name, kind=2)
        member = {k: v for k, v in self.guild.member_payload(target).items() if k != "user"} | {
            "permissions": str(MEMBER_PERMISSIONS)
        }
        data = {
            "id": command["id"],
            "name": command["name"],
            "type": 2,
            "target_id": str(target.id),
            "resolved": {
                "users": {str(target.id): target.payload()},
                "members": {str(target.id): member},
            },
            "guild_id": command.get("guild_id"),
        }
        return await self._dispatch_interaction(2, data, user=user, channel=self.channel(channel))

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
        record = await self._dispatch_interaction(4, data, user=user, channel=self.channel(channel))
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
            3, data, user=user, channel=self.channel(message.channel_id), message=message
        )

    async def select(
        self, message: StoredMessage, custom_id: str, values: list[str], *, user: FakeUser
    ) -> Interaction:
        """A user picks ``values`` in the select menu ``custom_id`` on ``message``."""
        if message.deleted:
            raise LoopbackError(f"message {message.id} was deleted")
        menu = next(
            (
                child
                for row in message.components
                for child in row.get("components", [])
                if child.get("custom_id") == custom_id and child.get("type") == 3
            ),
            None,
        )
        if menu is None:
            raise LoopbackError(f"no select menu {custom_id!r} on message {message.id}")
        offered = {option["value"] for option in menu.get("options", [])}
        if not set(values) <= offered or not values:
            raise LoopbackError(f"{values} are not options of {custom_id!r}: {sorted(offered)}")
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return await self._dispatch_interaction(
            3, data, user=user, channel=self.channel(message.channel_id), message=message
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
            5, data, user=opened_by.user, channel=self.channel(opened_by.channel_id), message=source
        )

    async def forge(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: FakeUser,
        channel: str | int = "art",
        message: StoredMessage | None = None,
    ) -> Interaction:
        """An interaction of type ``kind`` whose ``data`` is sent exactly as given: options
        out of the declared ranges, of other types or unknown, custom_ids the bot never sent.
        Discord's clients check options against the declared command, so these reach a bot
        only from a stale client, a proxy or a forgery; a bot must answer them all the same."""
        return await self._dispatch_interaction(
            kind, data, user=user, channel=self.channel(channel), message=message
        )

    def plant(self, channel: str | int, data: dict[str, Any]) -> StoredMessage:
        """A message of the bot as an older version of it (or another bot build) left it in
        ``channel``: ``data`` is a message body (content, embeds, components)."""
        quiet: dict[str, Any] = {"allowed_mentions": {"parse": []}}
        return self.new_message(self.channel(channel).id, quiet | data, [], 0, None)

    # ----------------------------------------------------------------- waiting and reading
    async def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Until a bot has identified and received READY and GUILD_CREATE."""
        await asyncio.wait_for(self.ready.wait(), timeout)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Until ``predicate()`` holds (checked after every request the bot makes, and 20×/s)."""

        async def waiter() -> None:
            async with self.changed:
                while not predicate():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), 0.05)

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
                "path": s.path,
                "status": s.status,
                "interaction_id": s.interaction_id,
                "message_id": s.message_id,
                "payload": s.payload,
                "files": [{"filename": f.filename, "size": len(f.data)} for f in s.files],
            }
            for s in self.transcript
        ]

    # ----------------------------------------------------------------- building interactions
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
            wire = value
            if isinstance(value, FakeUser | FakeChannel | Attachment):
                wire = str(value.id)
            if (kind == ATTACHMENT_OPTION) != isinstance(value, Attachment):
                raise LoopbackError(f"/{command['name']} {name}: an attachment takes an Upload")
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
        attachments = {
            str(v.id): v.payload(self.cdn_base)
            for v in values.values()
            if isinstance(v, Attachment)
        }
        resolved: dict[str, Any] = {}
        if attachments:
            resolved["attachments"] = attachments
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

    def _attach(self, upload: Upload) -> Attachment:
        """Store a user's file as Discord would on upload; its description is held to the
        spec's ``AttachmentResponse`` like every payload the bot reads."""
        attachment = Attachment(snowflake(), upload.filename, upload.data, upload.content_type)
        self.uploads[attachment.id] = attachment
        payload = attachment.payload(self.cdn_base)
        validator = load_spec().validator(ATTACHMENT_SCHEMA)
        for problem in breaches(validator, payload):
            self.violation(f"attachment {upload.filename!r}: {problem.text()}")
        return attachment

    async def _dispatch_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: FakeUser,
        channel: FakeChannel,
        message: StoredMessage | None = None,
    ) -> Interaction:
        if not self.gateway.connected:
            raise LoopbackError("no bot is connected to the loopback Discord")
        record = Interaction(
            id=snowflake(),
            token=secrets.token_urlsafe(48),
            type=kind,
            user=user,
            channel_id=channel.id,
            created=time.monotonic(),
            size_limit=self.attachment_size_limit,
            data=data,
            source_message_id=message.id if message else None,
        )
        self.interactions[record.id] = record
        payload: dict[str, Any] = {
            "id": str(record.id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": record.token,
            "version": 1,
            "attachment_size_limit": record.size_limit,
            "channel_id": str(channel.id),
            "channel": channel.payload(self.guild.id),
            "app_permissions": str(self.bot_permissions),
            "locale": "en-US",
            "entitlements": [],
            "data": data,
        }
        if channel.is_dm:
            payload |= {
                "user": user.payload(),
                "context": _CONTEXT_BOT_DM,
                "authorizing_integration_owners": {"0": "0"},
            }
        else:
            permissions = self.permissions.get(user.id, MEMBER_PERMISSIONS)
            payload |= {
                "guild_id": str(self.guild.id),
                "guild": {"id": str(self.guild.id), "locale": "en-US", "features": []},
                "member": self.guild.member_payload(user, permissions),
                "guild_locale": "en-US",
                "context": _CONTEXT_GUILD,
                "authorizing_integration_owners": {"0": str(self.guild.id)},
            }
        if message is not None:
            payload["message"] = self.message_payload(message)
        if kind != 4:  # autocomplete has its own 3 s, checked on the result
            loop = asyncio.get_running_loop()
            self._timers.append(
                loop.call_later(self.ack_deadline + 0.05, self._check_answered, record)
            )
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return record

    def _check_answered(self, record: Interaction) -> None:
        if record.response_type is None:
            self.violation(
                f"interaction {record.id} ({record.describe()}): no response within "
                f"{self.ack_deadline:g}s (the user sees 'The application did not respond')"
            )

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()


def _children(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [row["component"]] if row.get("type") == 18 else list(row.get("components", []))
