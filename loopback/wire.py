"""Bodies in and out as Discord writes them: JSON, multipart uploads, and its error shape."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import BodyPartReader, web

from loopback.fixtures import snowflake
from loopback.spec import Breach
from loopback.state import Attachment

_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")


class BadBody(Exception):
    """A body that is not JSON, or a multipart form without a usable ``payload_json``."""


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # discord.py compares the content type with ``==``: no charset suffix.
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_body(code: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """Discord's error object (https://discord.com/developers/docs/reference#error-messages)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return body


def error_response(
    status: int, code: int, message: str, errors: dict[str, Any] | None = None
) -> web.Response:
    return json_response(error_body(code, message, errors), status)


def error_tree(found: list[Breach]) -> dict[str, Any]:
    """Breaches as Discord's nested ``errors``: keys down the field path, ``_errors`` at a leaf."""
    tree: dict[str, Any] = {}
    for breach in found:
        node = tree
        for key in breach.path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": breach.code, "message": breach.message})
    return tree


def refusal(found: list[Breach]) -> tuple[int, dict[str, Any]]:
    """The 400 body for these breaches: a specific code (empty message: 50006) when that is the
    only kind of breach, else 50035 "Invalid Form Body" with the errors tree."""
    codes = {b.json_code for b in found}
    if len(codes) == 1 and None not in codes:
        return 400, error_body(int(codes.pop() or 0), found[0].message)
    return 400, error_body(50035, "Invalid Form Body", error_tree(found))


async def read_body(request: web.Request) -> tuple[Any, list[Attachment], bool]:
    """The JSON body, or multipart ``payload_json`` + ``files[n]`` as discord.py sends them.

    Returns (body, uploads, multipart). Raises :class:`BadBody` for a body Discord could not read.
    """
    if not request.can_read_body:
        return None, [], False
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        files: list[Attachment] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            data = await part.read()
            if name == "payload_json":
                payload = _json(data)
            elif match := _FILE_FIELD.match(name):
                filename = part.filename or "file"
                content_type = part.headers.get("Content-Type")
                files.append(
                    Attachment(snowflake(), filename, bytes(data), content_type, int(match[1]))
                )
            else:
                raise BadBody(f"unknown form field {name!r}: expected payload_json or files[n]")
        return payload, files, True
    raw = await request.read()
    return (_json(raw) if raw else None), [], False


def _json(raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadBody(f"the body is not valid JSON: {exc}") from None
