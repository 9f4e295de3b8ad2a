"""Discord's official OpenAPI description: which route a request is; its body against the schema.

The spec (``discord_api/openapi.json``, MIT, copied by ``scripts/vendor_discord_spec.py``) is read
once per process. Each operation's request body is validated with ``jsonschema`` (Draft 2020-12,
which OpenAPI 3.1 uses) and each breach becomes a :class:`Breach` with the field's path, so the
server can answer with Discord's ``errors`` tree.

Where the spec is stricter than Discord (it types every snowflake as a digit string, while Discord
and discord.py send integers too), :data:`CORRECTIONS` widens the schema; each correction names
the documentation page that says what Discord accepts.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).with_name("discord_api") / "openapi.json"
SPEC_URI = "https://discord.com/api/v10/openapi.json"

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Breach:
    """One rule a request broke: where (path into the body), Discord's error code, and why."""

    path: FieldPath
    code: str
    message: str
    #: A top-level JSON error code that replaces "Invalid Form Body" (e.g. 50006, empty message).
    json_code: int | None = None

    def text(self) -> str:
        where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in self.path)
        where = where.replace(".[", "[")
        return f"{where}: {self.message}" if where else self.message


# Digit strings and non-negative integers: "Snowflakes ... are always returned as strings"
# (https://discord.com/developers/docs/reference#snowflakes), but requests may send them as
# integers, which discord.py does (allowed_mentions.users, attachments[].id of a new upload).
_SNOWFLAKE = {
    "anyOf": [
        {"type": "string", "pattern": "^(0|[1-9][0-9]*)$"},
        {"type": "integer", "minimum": 0},
    ]
}
# "default_member_permissions: ?string, set of permissions represented as a bit set"
# (https://discord.com/developers/docs/interactions/application-commands#application-command-object);
# the spec types it as an integer only.
_PERMISSIONS = {
    "anyOf": [
        {"type": "null"},
        {"type": "integer", "minimum": 0, "maximum": 18014398509481983},
        {"type": "string", "pattern": "^[0-9]{1,20}$"},
    ]
}
CORRECTIONS: dict[str, Any] = {
    "/components/schemas/SnowflakeType": _SNOWFLAKE,
    "/components/schemas/ApplicationCommandUpdateRequest/properties/default_member_permissions": (
        _PERMISSIONS
    ),
    "/components/schemas/ApplicationCommandCreateRequest/properties/default_member_permissions": (
        _PERMISSIONS
    ),
}


def _pointer_set(document: dict[str, Any], pointer: str, value: Any) -> None:
    keys = [k.replace("~1", "/").replace("~0", "~") for k in pointer.strip("/").split("/")]
    target = document
    for key in keys[:-1]:
        target = target[key]
    if keys[-1] in target:
        target[keys[-1]] = value


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Operation:
    """One route and method of the spec, e.g. ``create_message``: POST /channels/{id}/messages."""

    operation_id: str
    method: str
    template: str
    params: dict[str, str]
    body_pointer: str | None  # JSON pointer to the JSON request body's schema, if any
    multipart_pointer: str | None
    needs_token: bool = True  # False where the spec allows no authorization (webhooks, gateway)


@dataclass
class Spec:
    """The loaded spec with a route matcher and one validator per schema, built on first use."""

    document: dict[str, Any]
    _routes: list[tuple[str, re.Pattern[str], str]] = field(default_factory=list)
    _validators: dict[str, Draft202012Validator] = field(default_factory=dict)

    def __post_init__(self) -> None:
        resource: Resource[Any] = DRAFT202012.create_resource(self.document)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        routes = []
        for template, item in self.document["paths"].items():
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            literal = sum(1 for part in template.split("/") if part and "{" not in part)
            for method in item:
                if method in ("get", "post", "put", "patch", "delete"):
                    routes.append((literal, method.upper(), re.compile(f"^{pattern}$"), template))
        # Literal segments win over parameters: /users/@me before /users/{user_id}.
        routes.sort(key=lambda r: -r[0])
        self._routes = [(m, p, t) for _, m, p, t in routes]

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation for ``GET /users/@me`` (path below ``/api/v10``), or None if unknown."""
        for verb, pattern, template in self._routes:
            if verb != method:
                continue
            match = pattern.match(path)
            if match is None:
                continue
            spec_op = self.document["paths"][template][method.lower()]
            body = spec_op.get("requestBody", {}).get("content", {})
            base = f"/paths/{_escape(template)}/{method.lower()}/requestBody/content"
            return Operation(
                operation_id=spec_op["operationId"],
                method=method,
                template=template,
                params=match.groupdict(),
                body_pointer=f"{base}/application~1json/schema"
                if "application/json" in body
                else None,
                multipart_pointer=f"{base}/multipart~1form-data/schema"
                if "multipart/form-data" in body
                else None,
                needs_token={} not in spec_op.get("security", [{}]),
            )
        return None

    def validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            self._validators[pointer] = Draft202012Validator(
                {"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry
            )
        return self._validators[pointer]

    def check_body(self, operation: Operation, body: Any, *, multipart: bool) -> list[Breach]:
        """Breaches of the operation's request body schema (none when it takes no body)."""
        pointer = operation.body_pointer or operation.multipart_pointer
        if multipart and operation.multipart_pointer:
            pointer = operation.multipart_pointer
        if pointer is None:
            return []
        return breaches(self.validator(pointer), body)

    def response_pointer(self, operation: Operation, status: int) -> str | None:
        """JSON pointer to the schema of the operation's response with this status, if any."""
        responses = self.document["paths"][operation.template][operation.method.lower()][
            "responses"
        ]
        entry = responses.get(str(status))
        if entry is None or "content" not in entry:
            return None
        return (
            f"/paths/{_escape(operation.template)}/{operation.method.lower()}/responses/"
            f"{status}/content/application~1json/schema"
        )

    def check_response(self, operation: Operation, status: int, body: Any) -> list[Breach]:
        pointer = self.response_pointer(operation, status)
        return [] if pointer is None else breaches(self.validator(pointer), body)


@functools.cache
def load_spec() -> Spec:
    """The spec with :data:`CORRECTIONS` applied (read once per process)."""
    document = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    for pointer, schema in CORRECTIONS.items():
        _pointer_set(document, pointer, copy.deepcopy(schema))
    return Spec(document)


# ----------------------------------------------------------------------------- errors
_DISCRIMINATORS = {"enum", "const", "type"}


def _branch_mismatch(errors: list[ValidationError], depth: int) -> bool:
    """A union branch that is not the one meant: its ``type`` field or the value's type differs."""
    for error in errors:
        relative = list(error.absolute_path)[depth:]
        if error.validator in _DISCRIMINATORS and relative in ([], ["type"]):
            return True
    return False


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors a person can act on: inside a union, those of the branch the value meant."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        yield error
        return
    depth = len(error.absolute_path)
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    meant = [errs for errs in by_branch.values() if not _branch_mismatch(errs, depth)]
    if not meant:
        yield error
        return
    for sub in min(meant, key=len):
        yield from _leaves(sub)


_CODES = {
    "maxLength": "BASE_TYPE_MAX_LENGTH",
    "minLength": "BASE_TYPE_MIN_LENGTH",
    "maxItems": "BASE_TYPE_MAX_LENGTH",
    "minItems": "BASE_TYPE_MIN_LENGTH",
    "maximum": "NUMBER_TYPE_MAX",
    "minimum": "NUMBER_TYPE_MIN",
    "required": "BASE_TYPE_REQUIRED",
    "type": "BASE_TYPE_BAD_TYPE",
    "enum": "BASE_TYPE_CHOICES",
    "const": "BASE_TYPE_CHOICES",
    "pattern": "STRING_TYPE_REGEX",
    "uniqueItems": "BASE_TYPE_DUPLICATES",
    "oneOf": "UNION_TYPE_CHOICES",
    "anyOf": "UNION_TYPE_CHOICES",
}


def _message(error: ValidationError) -> tuple[FieldPath, str]:
    path: FieldPath = tuple(error.absolute_path)
    value, limit = error.instance, error.validator_value
    match error.validator:
        case "maxLength":
            return path, f"at most {limit} characters, got {len(value)}"
        case "minLength":
            return path, f"at least {limit} characters, got {len(value)}"
        case "maxItems":
            return path, f"at most {limit} items, got {len(value)}"
        case "minItems":
            return path, f"at least {limit} items, got {len(value)}"
        case "maximum":
            return path, f"at most {limit}, got {value}"
        case "minimum":
            return path, f"at least {limit}, got {value}"
        case "required":
            missing = next((k for k in limit if k not in value), "?")
            return (*path, missing), "this field is required"
        case "type":
            return path, f"must be of type {limit}, got {json.dumps(value)[:40]}"
        case "enum":
            return path, f"must be one of {limit}, got {json.dumps(value)[:40]}"
        case "oneOf" | "anyOf":
            kind = value.get("type") if isinstance(value, dict) else None
            shown = f"type {kind}" if kind is not None else json.dumps(value)[:60]
            return path, f"{shown} is none of the kinds allowed here"
    return path, error.message[:200]


def breaches(validator: Draft202012Validator, body: Any) -> list[Breach]:
    """Every schema breach of ``body``, one per field, in a stable order."""
    found: dict[tuple[FieldPath, str], Breach] = {}
    for error in validator.iter_errors(body):
        for leaf in _leaves(error):
            path, message = _message(leaf)
            code = _CODES.get(str(leaf.validator), "BASE_TYPE_INVALID")
            found.setdefault((path, message), Breach(path, code, message))
    return sorted(found.values(), key=lambda b: [str(p) for p in b.path])
