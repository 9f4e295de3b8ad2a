"""REST API v10: every request is routed by Discord's spec, rate limited, validated, then served.

One entry point (:meth:`RestApi.handle`) does what every route shares: find the operation in the
spec (an unknown route is a breach), apply the rate limit, check the body against the contract
(a breach is a 400 in Discord's error shape), record the request in the transcript. The
handlers below serve the operations a bot uses, one method per ``operationId``, and enforce the
interaction rules: first response within ``ack_deadline``, one initial response, tokens valid
``token_lifetime`` seconds, uploads within the announced ``attachment_size_limit``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from loopback import rules
from loopback.contract import Contract
from loopback.fixtures import snowflake
from loopback.ratelimit import RateLimiter
from loopback.rules import LOADING
from loopback.spec import Breach, Operation
from loopback.state import Attachment, DiscordState, Interaction, Sent, StoredMessage
from loopback.wire import BadBody, error_body, json_response, read_body, refusal

# Every response passes "through Cloudflare": discord.py takes a 429 without ``Via`` for a ban.
_ALWAYS = {"Via": "1.1 google"}

#: The transcript's name for each operation (tests and the demo read these).
KINDS = {
    "create_interaction_response": "callback",
    "execute_webhook": "followup",
    "get_original_webhook_message": "get_original",
    "update_original_webhook_message": "edit_original",
    "delete_original_webhook_message": "delete_original",
    "get_webhook_message": "get_followup",
    "update_webhook_message": "edit_followup",
    "delete_webhook_message": "delete_followup",
    "create_message": "channel_message",
    "list_messages": "channel_history",
    "get_message": "get_channel",
    "update_message": "edit_channel",
    "delete_message": "delete_channel",
    "bulk_set_application_commands": "commands",
    "bulk_set_guild_application_commands": "commands",
}


@dataclass
class Call:
    """One request on its way through: what the spec says it is, and its parsed body."""

    request: web.Request
    operation: Operation
    body: Any
    files: list[Attachment]
    interaction: Interaction | None = None

    @property
    def data(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


@dataclass
class Reply:
    status: int
    payload: Any = None
    message_id: int | None = None
    interaction: Interaction | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Reply]]


class RestApi:
    def __init__(self, state: DiscordState, contract: Contract, limiter: RateLimiter) -> None:
        self.state = state
        self.contract = contract
        self.limiter = limiter
        self.gateway_url = ""
        self._handlers: dict[str, Handler] = {
            "get_my_user": self._get_me,
            "get_my_oauth2_application": self._get_application,
            "get_gateway": self._get_gateway,
            "get_bot_gateway": self._get_gateway,
            "bulk_set_application_commands": self._put_commands,
            "bulk_set_guild_application_commands": self._put_commands,
            "list_application_commands": self._get_commands,
            "list_guild_application_commands": self._get_commands,
            "create_interaction_response": self._callback,
            "execute_webhook": self._followup,
            "get_original_webhook_message": self._webhook_message,
            "update_original_webhook_message": self._webhook_message,
            "delete_original_webhook_message": self._webhook_message,
            "get_webhook_message": self._webhook_message,
            "update_webhook_message": self._webhook_message,
            "delete_webhook_message": self._webhook_message,
            "get_channel": self._get_channel,
            "create_message": self._channel_send,
            "list_messages": self._channel_history,
            "get_message": self._channel_message,
            "update_message": self._channel_message,
            "delete_message": self._channel_message,
            "create_dm": self._create_dm,
            "list_my_guilds": self._list_my_guilds,
        }

    # ----------------------------------------------------------------- the shared path
    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        finally:
            await self.state.notify()

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"].strip("/")
        method = request.method
        operation = self.contract.operation(method, path)
        if operation is None:
            self.state.violation(f"{method} {_short(path)}: Discord has no such route")
            return json_response(error_body(0, "404: Not Found"), 404, _ALWAYS)
        call = Call(request, operation, None, [])
        call.interaction = self._interaction_of(operation)
        try:
            call.body, call.files, multipart = await read_body(request)
        except BadBody as exc:
            self.state.violation(f"{method} {_short(path)}: {exc}")
            return self._finish(call, Reply(400, error_body(50109, str(exc))))
        # Validated before the rate limit (Discord limits first): every request is checked,
        # a refused one included, so "the validator ran on every request" can be said.
        found = self.contract.check(operation, call.body, call.files, multipart=multipart)
        if found:
            return self._finish(call, self._reject(call, found))
        verdict = self.limiter.hit(operation.operation_id, operation.template, operation.params)
        if verdict.limited is not None:
            return self._finish(call, Reply(429, verdict.limited, headers=verdict.headers))
        handler = self._handlers.get(operation.operation_id)
        if handler is None:
            self.state.violation(
                f"{method} {_short(path)}: the loopback does not serve {operation.operation_id}"
            )
            return self._finish(call, Reply(404, error_body(0, "404: Not Found")))
        if operation.needs_token and not self._authorized(request):
            return self._finish(call, Reply(401, error_body(0, "401: Unauthorized")))
        reply = await handler(call)
        reply.headers = {**verdict.headers, **reply.headers}
        return await self._answer(call, reply)

    async def _answer(self, call: Call, reply: Reply) -> web.Response:
        """Record, then (after the test's ``before_answer`` hook, if any) answer."""
        response = self._finish(call, reply)
        hook = self.state.before_answer
        if hook is not None:
            await hook(self.state.transcript[-1])
        return response

    def _finish(self, call: Call, reply: Reply) -> web.Response:
        operation = call.operation
        record = reply.interaction or call.interaction
        self.state.record(
            Sent(
                kind="rate_limited"
                if reply.status == 429
                else KINDS.get(operation.operation_id, operation.operation_id),
                method=call.request.method,
                path=call.request.path,
                status=reply.status,
                at=0.0,
                payload=call.body,
                files=list(call.files),
                interaction_id=record.id if record else None,
                message_id=reply.message_id,
                operation=operation.operation_id,
                response=reply.payload,
            )
        )
        headers = {**_ALWAYS, **reply.headers}
        if reply.status == 204:
            return web.Response(status=204, headers=headers)
        return json_response(reply.payload, reply.status, headers)

    def _reject(self, call: Call, found: list[Breach]) -> Reply:
        where = f"{call.request.method} {_short(call.request.path)}"
        if call.interaction is not None:
            where = f"{KINDS.get(call.operation.operation_id, '')} of {call.interaction.describe()}"
        for breach in found:
            self.state.violation(f"{where}: {breach.text()}")
        status, payload = refusal(found)
        return Reply(status, payload)

    def _interaction_of(self, operation: Operation) -> Interaction | None:
        params = operation.params
        if "interaction_id" in params:
            found = (
                self.state.interactions.get(int(params["interaction_id"]))
                if params["interaction_id"].isdigit()
                else None
            )
            return found if found and found.token == params.get("interaction_token") else None
        token = params.get("webhook_token")
        if token is None:
            return None
        return next((r for r in self.state.interactions.values() if r.token == token), None)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.state.token}"

    def _size_problems(self, files: list[Attachment], limit: int) -> Reply | None:
        over = [f for f in files if len(f.data) > limit]
        for f in over:
            self.state.violation(
                f"file {f.filename!r}: {len(f.data)} bytes over the upload limit of {limit}"
            )
        return Reply(413, error_body(40005, "Request entity too large")) if over else None

    # ----------------------------------------------------------------- the application
    async def _get_me(self, call: Call) -> Reply:
        return Reply(
            200,
            self.state.bot_user.payload()
            | {"verified": True, "mfa_enabled": False, "locale": "en-US"},
        )

    async def _get_application(self, call: Call) -> Reply:
        state = self.state
        return Reply(
            200,
            {
                "id": str(state.application_id),
                "name": state.bot_user.username,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": state.owner.payload(),
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
                "type": None,
                "flags_new": "0",
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": 1,
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "eligible_oauth2_scopes": [],
            },
        )

    async def _list_my_guilds(self, call: Call) -> Reply:
        """The bot's guilds with its permissions there (what ``muralist doctor`` checks)."""
        guild = self.state.guild
        return Reply(
            200,
            [
                {
                    "id": str(guild.id),
                    "name": guild.name,
                    "icon": None,
                    "banner": None,
                    "owner": False,
                    "permissions": str(self.state.bot_permissions),
                    "features": [],
                }
            ],
        )

    async def _get_gateway(self, call: Call) -> Reply:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return Reply(200, {"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _put_commands(self, call: Call) -> Reply:
        state, params = self.state, call.operation.params
        if params["application_id"] != str(state.application_id):
            return Reply(403, error_body(50001, "Missing Access"))
        guild_id = int(params["guild_id"]) if "guild_id" in params else None
        if guild_id is not None and guild_id != state.guild.id:
            state.violation(f"PUT commands of unknown guild {guild_id}")
            return Reply(404, error_body(10004, "Unknown Guild"))
        stored = []
        for command in call.body or []:
            entry = dict(command)
            entry.setdefault("type", 1)
            entry.setdefault("description", "")  # Discord answers "" for context menus
            entry["id"] = str(snowflake())
            entry["application_id"] = str(state.application_id)
            entry["integration_types"] = command.get("integration_types") or [0]
            entry["version"] = str(snowflake())
            permissions = command.get("default_member_permissions")
            entry["default_member_permissions"] = None if permissions is None else str(permissions)
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        if guild_id is None:
            state.global_commands = stored
        else:
            state.guild_commands[guild_id] = stored
        return Reply(200, stored)

    async def _get_commands(self, call: Call) -> Reply:
        guild_id = call.operation.params.get("guild_id")
        if guild_id is not None:
            return Reply(200, self.state.guild_commands.get(int(guild_id), []))
        return Reply(200, self.state.global_commands)

    # ----------------------------------------------------------------- interactions
    async def _callback(self, call: Call) -> Reply:
        state, record, body = self.state, call.interaction, call.data
        if record is None:
            state.violation(
                f"callback for an unknown interaction {call.operation.params['interaction_id']}"
            )
            return Reply(404, error_body(10062, "Unknown interaction"))
        elapsed = time.monotonic() - record.created
        kind = int(body.get("type", 0))
        if record.response_type is not None:
            state.violation(f"interaction {record.id}: a second initial response (type {kind})")
            return Reply(400, error_body(40060, "Interaction has already been acknowledged."))
        if elapsed > state.ack_deadline:
            state.violation(
                f"interaction {record.id} ({record.describe()}): first response after "
                f"{elapsed:.2f}s (limit {state.ack_deadline:g}s)"
            )
            return Reply(404, error_body(10062, "Unknown interaction"))
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}[record.type]
        problems: list[Breach] = []
        if kind not in allowed:
            problems.append(
                Breach(
                    ("type",),
                    "INTERACTION_CALLBACK_TYPE",
                    f"callback type {kind} is not allowed for interaction type {record.type} "
                    f"({rules.CALLBACK_DOC})",
                )
            )
        elif kind in (6, 7) and record.source_message_id is None:
            problems.append(
                Breach(
                    ("type",),
                    "INTERACTION_CALLBACK_TYPE",
                    f"callback type {kind} needs a component interaction",
                )
            )
        elif kind == 7 and record.source_message_id is not None:
            source = state.messages[record.source_message_id]
            existing = {a.id for a in source.attachments}
            problems += rules.check_attachments(data, [f.index for f in call.files], existing)
            problems += rules.check_edit_of_v2(source.flags, data)
        if problems:
            return self._reject(call, problems)
        too_big = self._size_problems(call.files, record.size_limit)
        if too_big is not None:
            return too_big
        record.response_type = kind
        record.responded_after = elapsed
        # The resource (with its message) comes only for types 4 and 7, as the spec says.
        resource: dict[str, Any] | None = None
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            message = state.new_message(record.channel_id, data, call.files, flags, record.id)
            record.original_id = message.id
            if kind == 4:
                resource = {"type": kind, "message": state.message_payload(message)}
        elif kind in (6, 7):
            record.original_id = record.source_message_id
            if kind == 7 and record.source_message_id is not None:
                source = state.messages[record.source_message_id]
                state.apply_edit(source, data, call.files)
                resource = {"type": kind, "message": state.message_payload(source)}
        elif kind == 8:
            record.choices = list(data.get("choices") or [])
        elif kind == 9:
            record.modal = data
        if call.request.query.get("with_response", "").lower() not in ("true", "1"):
            return Reply(204, None, record.original_id)
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(record.id),
                "type": record.type,
                "response_message_id": str(record.original_id) if record.original_id else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & rules.EPHEMERAL),
            }
        }
        if resource is not None:
            answer["resource"] = resource
        return Reply(200, answer, record.original_id)

    def _token_problem(self, call: Call) -> Reply | None:
        state, record = self.state, call.interaction
        where = f"{call.request.method} {_short(call.request.path)}"
        if record is None or call.operation.params["webhook_id"] != str(state.application_id):
            state.violation(f"{where}: unknown webhook")
            return Reply(404, error_body(10015, "Unknown Webhook"))
        if record.expired or time.monotonic() - record.created > state.token_lifetime:
            state.violation(
                f"{where}: interaction token of {record.describe()} used after it expired"
            )
            return Reply(401, error_body(50027, "Invalid Webhook Token"))
        if record.response_type is None:
            state.violation(f"{record.describe()}: webhook used before the initial response")
            return Reply(404, error_body(10015, "Unknown Webhook"))
        return None

    async def _followup(self, call: Call) -> Reply:
        state, record, body = self.state, call.interaction, call.data
        problem = self._token_problem(call)
        if problem is not None or record is None:
            return problem or Reply(404)
        too_big = self._size_problems(call.files, record.size_limit)
        if too_big is not None:
            return too_big
        original = state.messages.get(record.original_id or 0)
        if record.response_type == 5 and original and original.loading and not original.deleted:
            # As Discord does: the first follow-up after a defer replaces the "thinking…" message
            # (keeping the defer's ephemerality).
            state.apply_edit(original, {k: v for k, v in body.items() if k != "flags"}, call.files)
            return Reply(200, state.message_payload(original), original.id)
        message = state.new_message(
            record.channel_id, body, call.files, int(body.get("flags") or 0), record.id
        )
        record.followup_ids.append(message.id)
        return Reply(200, state.message_payload(message), message.id)

    async def _webhook_message(self, call: Call) -> Reply:
        problem = self._token_problem(call)
        record = call.interaction
        if problem is not None or record is None:
            return problem or Reply(404)
        wanted = call.operation.params.get("message_id", "@original")
        message_id = record.original_id if wanted == "@original" else int(wanted)
        if message_id is None or (
            message_id != record.original_id and message_id not in record.followup_ids
        ):
            self.state.violation(
                f"{record.describe()}: no message {wanted} to {call.request.method}"
            )
            return Reply(404, error_body(10008, "Unknown Message"))
        return await self._message_action(call, self.state.messages[message_id], record.size_limit)

    async def _message_action(self, call: Call, message: StoredMessage, size_limit: int) -> Reply:
        state = self.state
        if message.deleted:
            return Reply(404, error_body(10008, "Unknown Message"))
        method = call.request.method
        if method == "GET":
            return Reply(200, state.message_payload(message), message.id)
        if method == "DELETE":
            message.deleted = True
            return Reply(204, None, message.id)
        existing = {a.id for a in message.attachments}
        problems = rules.check_attachments(call.data, [f.index for f in call.files], existing)
        problems += rules.check_edit_of_v2(message.flags, call.data)
        if problems:
            return self._reject(call, problems)
        too_big = self._size_problems(call.files, size_limit)
        if too_big is not None:
            return too_big
        state.apply_edit(message, call.data, call.files)
        return Reply(200, state.message_payload(message), message.id)

    # ----------------------------------------------------------------- channels
    def _find_channel(self, call: Call) -> Any:
        raw = call.operation.params["channel_id"]
        try:
            channel = self.state.channel(int(raw))
        except (KeyError, ValueError):
            return None
        return None if channel.deleted else channel

    async def _get_channel(self, call: Call) -> Reply:
        channel = self._find_channel(call)
        if channel is None:
            return Reply(404, error_body(10003, "Unknown Channel"))
        return Reply(200, channel.payload(self.state.guild.id))

    async def _channel_send(self, call: Call) -> Reply:
        state, body = self.state, call.data
        channel = self._find_channel(call)
        if channel is None:
            return Reply(404, error_body(10003, "Unknown Channel"))
        if not channel.bot_can_send:
            return Reply(403, error_body(50013, "Missing Permissions"))
        too_big = self._size_problems(call.files, state.attachment_size_limit)
        if too_big is not None:
            return too_big
        nonce = body.get("nonce")
        enforced = nonce is not None and bool(body.get("enforce_nonce"))
        if enforced:
            # "If another message was created by the same author with the same nonce, that
            # message will be returned and no new message will be created."
            seen = state.nonces.get(str(nonce))
            if seen is not None and time.monotonic() - seen[1] < state.nonce_window:
                earlier = state.messages[seen[0]]
                if earlier.deleted:
                    return Reply(404, error_body(10008, "Unknown Message"))
                return Reply(200, state.message_payload(earlier) | {"nonce": nonce}, earlier.id)
        message = state.new_message(channel.id, body, call.files, int(body.get("flags") or 0), None)
        payload = state.message_payload(message)
        if nonce is not None:
            message.nonce = str(nonce)
            payload["nonce"] = nonce  # in the create response only, as Discord does
        if enforced:
            state.nonces[str(nonce)] = (message.id, time.monotonic())
        return Reply(200, payload, message.id)

    async def _channel_history(self, call: Call) -> Reply:
        """``GET /channels/{id}/messages``: newest first, ``limit`` 1–100 (default 50), paged
        by ``before`` / ``after`` message ids."""
        channel = self._find_channel(call)
        if channel is None:
            return Reply(404, error_body(10003, "Unknown Channel"))
        query = call.request.query
        limit = min(max(int(query.get("limit", "50")), 1), 100)
        found = self.state.history(channel.id)
        if "before" in query:
            found = [m for m in found if m.id < int(query["before"])]
        if "after" in query:
            found = [m for m in found if m.id > int(query["after"])]
        return Reply(200, [self.state.message_payload(m) for m in found[:limit]])

    async def _channel_message(self, call: Call) -> Reply:
        params = call.operation.params
        message = (
            self.state.messages.get(int(params["message_id"]))
            if params["message_id"].isdigit()
            else None
        )
        if message is None or str(message.channel_id) != params["channel_id"]:
            return Reply(404, error_body(10008, "Unknown Message"))
        return await self._message_action(call, message, self.state.attachment_size_limit)

    async def _create_dm(self, call: Call) -> Reply:
        recipient = int(call.data.get("recipient_id") or 0)
        user = self.state.guild.members.get(recipient)
        if user is None:
            return Reply(400, error_body(50033, "Invalid Recipient(s)"))
        return Reply(200, self.state.dm(user).payload(self.state.guild.id))


def _short(path: str) -> str:
    return "/".join(p if len(p) < 40 else p[:6] + "…" for p in path.split("/"))
