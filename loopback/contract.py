"""Discord's contract for one request: the route must exist, the body must match the spec's
schema, then the documented rules of that route (``loopback.rules``) must hold.

Counts every request and every request it validated, so the demo can say the validator ran on
all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopback import rules
from loopback.spec import Breach, FieldPath, Operation, Spec, load_spec
from loopback.state import Attachment


def _under(prefix: FieldPath, found: list[Breach]) -> list[Breach]:
    return [Breach((*prefix, *b.path), b.code, b.message, b.json_code) for b in found]


def _callback_rules(body: dict[str, Any], files: list[Attachment]) -> list[Breach]:
    """Interaction responses: the rules of ``data`` by callback type (rules.CALLBACK_DOC); an
    UPDATE_MESSAGE's attachments are checked against its message by the route."""
    kind, data = body.get("type"), body.get("data") or {}
    if kind == 4:
        found = rules.check_message(data, "callback_message", create=True, files=len(files))
        found += rules.check_attachments(data, [f.index for f in files])
        return _under(("data",), found)
    if kind == 5:
        return _under(("data",), rules.check_flags(data.get("flags"), "callback_deferred"))
    if kind == 7:
        found = rules.check_message(data, "callback_update", create=False, files=len(files))
        return _under(("data",), found)
    if kind == 9:
        return rules.check_modal(data)
    return []


@dataclass
class Contract:
    spec: Spec = field(default_factory=load_spec)
    requests: int = 0
    validated: int = 0

    def operation(self, method: str, path: str) -> Operation | None:
        """The spec's operation for this request (counted); None when Discord has no such route."""
        self.requests += 1
        return self.spec.operation(method, path)

    def check(
        self, operation: Operation, body: Any, files: list[Attachment], *, multipart: bool
    ) -> list[Breach]:
        """Breaches of the schema, then (when the schema holds) of the documented rules."""
        self.validated += 1
        if body is None:
            takes_body = operation.body_pointer or operation.multipart_pointer
            if takes_body and operation.method in ("POST", "PUT", "PATCH"):
                return [Breach((), "BASE_TYPE_REQUIRED", "a JSON body is required")]
            return []
        found = self.spec.check_body(operation, body, multipart=multipart)
        if found:
            return found
        return self._rules(operation.operation_id, body, files)

    def _rules(self, operation_id: str, body: Any, files: list[Attachment]) -> list[Breach]:
        count = len(files)
        uploads = [f.index for f in files]
        if isinstance(body, dict) and count > 10:
            return [Breach(("files",), "BASE_TYPE_MAX_LENGTH", f"at most 10 files, got {count}")]
        match operation_id:
            case "create_message":
                return rules.check_message(body, "channel_create", create=True, files=count) + (
                    rules.check_attachments(body, uploads)
                )
            case "execute_webhook":
                return rules.check_message(body, "followup", create=True, files=count) + (
                    rules.check_attachments(body, uploads)
                )
            case "update_message" | "update_original_webhook_message" | "update_webhook_message":
                return rules.check_message(body, "edit", create=False, files=count)
            case "create_interaction_response":
                return _callback_rules(body, files)
            case "bulk_set_application_commands" | "bulk_set_guild_application_commands":
                return rules.check_commands(body or [])
        return []
