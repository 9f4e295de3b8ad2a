"""Broken payloads are refused as Discord refuses them; well-formed ones, components v2 and
Unicode command names included, are accepted."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from loopback import Interaction, LoopbackDiscord
from loopback.fixtures import snowflake

EPHEMERAL, CROSSPOSTED, SUPPRESS_EMBEDS, V2 = 64, 2, 4, 1 << 15


@dataclass
class Case:
    """One request: ``where`` picks the route (channel, edit_v2, callback, update, autocomplete,
    followup, commands)."""

    where: str
    body: Any
    #: the field (dotted path into the errors tree) Discord would blame; None for a coded error
    blamed: str | None
    code: int = 50035
    files: list[tuple[str, bytes]] = field(default_factory=list)
    raw: bytes | None = None  # a payload_json that is not JSON


def _button(**fields: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "Go", "custom_id": "go"} | fields


def _row(*children: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(children)}


def _input(**fields: Any) -> dict[str, Any]:
    return {"type": 4, "custom_id": "text", "style": 1, "label": "Text"} | fields


def _modal(*components: dict[str, Any], **fields: Any) -> dict[str, Any]:
    data = {"custom_id": "m", "title": "Edit", "components": list(components)}
    return {"type": 9, "data": data | fields}


def _option(kind: int = 3, name: str = "thing", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "description": "d"} | fields


def _command(name: str = "paint", kind: int = 1, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "type": kind}
    if kind == 1:
        body["description"] = "Paint"
    return body | fields


def _long_choices(prefix: str) -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix}{i}".ljust(100, "n"), "value": f"{i}".ljust(100, "v")} for i in range(25)
    ]


BROKEN: dict[str, Case] = {
    # --- messages (channel message create)
    "content over 2000": Case("channel", {"content": "x" * 2001}, "content"),
    "empty message": Case("channel", {"content": ""}, None, code=50006),
    "content not text": Case("channel", {"content": 5}, "content"),
    "parse users and a users list": Case(
        "channel",
        {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
        "allowed_mentions.users",
    ),
    "parse roles and a roles list": Case(
        "channel",
        {"content": "hi", "allowed_mentions": {"parse": ["roles"], "roles": ["1"]}},
        "allowed_mentions.roles",
    ),
    "unknown parse kind": Case(
        "channel",
        {"content": "hi", "allowed_mentions": {"parse": ["all"]}},
        "allowed_mentions.parse.0",
    ),
    "ephemeral flag on a channel message": Case(
        "channel", {"content": "hi", "flags": EPHEMERAL}, "flags"
    ),
    "eleven embeds": Case("channel", {"embeds": [{"title": "t"}] * 11}, "embeds"),
    "embed title over 256": Case("channel", {"embeds": [{"title": "t" * 257}]}, "embeds.0.title"),
    "embed colour over 0xFFFFFF": Case(
        "channel", {"embeds": [{"color": 0x1000000}]}, "embeds.0.color"
    ),
    "embed colour negative": Case("channel", {"embeds": [{"color": -1}]}, "embeds.0.color"),
    "embeds over 6000 characters": Case(
        "channel", {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}, "embeds"
    ),
    "embed field without a value": Case(
        "channel", {"embeds": [{"fields": [{"name": "n", "value": ""}]}]}, "embeds.0.fields.0.value"
    ),
    "six action rows": Case(
        "channel",
        {"components": [_row(_button(custom_id=f"b{i}")) for i in range(6)]},
        "components",
    ),
    "six buttons in a row": Case(
        "channel",
        {"components": [_row(*(_button(custom_id=f"b{i}") for i in range(6)))]},
        "components.0.components",
    ),
    "url on a primary button": Case(
        "channel",
        {"components": [_row(_button(url="https://example.com"))]},
        "components.0.components.0",
    ),
    "link button without a url": Case(
        "channel", {"components": [_row(_button(style=5))]}, "components.0.components.0"
    ),
    "button style 7": Case(
        "channel", {"components": [_row(_button(style=7))]}, "components.0.components.0.style"
    ),
    "button without label or emoji": Case(
        "channel", {"components": [_row(_button(label=None))]}, "components.0.components.0"
    ),
    "button label over 80": Case(
        "channel",
        {"components": [_row(_button(label="l" * 81))]},
        "components.0.components.0.label",
    ),
    "emoji name over 32": Case(
        "channel",
        {"components": [_row(_button(emoji={"name": "e" * 33}))]},
        "components.0.components.0.emoji.name",
    ),
    "custom_id twice in a message": Case(
        "channel",
        {"components": [_row(_button(), _button())]},
        "components.0.components.1.custom_id",
    ),
    "custom_id over 100": Case(
        "channel",
        {"components": [_row(_button(custom_id="c" * 101))]},
        "components.0.components.0.custom_id",
    ),
    "select beside a button": Case(
        "channel",
        {
            "components": [
                _row(
                    _button(),
                    {"type": 3, "custom_id": "s", "options": [{"label": "a", "value": "a"}]},
                )
            ]
        },
        "components.0",
    ),
    "text input in a message": Case(
        "channel", {"components": [_row(_input())]}, "components.0.components.0"
    ),
    "components v2 without the flag": Case(
        "channel", {"components": [{"type": 10, "content": "hello"}]}, "components.0"
    ),
    "content with the components v2 flag": Case(
        "channel",
        {"content": "hi", "flags": V2, "components": [{"type": 10, "content": "hello"}]},
        "content",
    ),
    "attachment id without an upload": Case(
        "channel",
        {"content": "hi", "attachments": [{"id": 1, "filename": "a.png"}]},
        "attachments.0.id",
        files=[("files[0]", b"png")],
    ),
    "payload_json not JSON": Case("channel", None, None, code=50109, raw=b"{not json"),
    "content on a components v2 message": Case("edit_v2", {"content": "hi"}, "content"),
    "components v2 flag taken off": Case("edit_v2", {"flags": 0}, "flags"),
    # --- interaction responses
    "callback type 3": Case("callback", {"type": 3}, None),
    "crossposted flag in a response": Case(
        "callback", {"type": 4, "data": {"content": "a", "flags": CROSSPOSTED}}, "data.flags"
    ),
    "suppress embeds on a defer": Case(
        "callback", {"type": 5, "data": {"flags": SUPPRESS_EMBEDS}}, "data.flags"
    ),
    "empty response message": Case("callback", {"type": 4, "data": {}}, None, code=50006),
    "ephemeral flag on an update": Case(
        "update", {"type": 7, "data": {"content": "a", "flags": EPHEMERAL}}, "data.flags"
    ),
    "update from a slash command": Case("callback", {"type": 7, "data": {"content": "a"}}, "type"),
    "button in a modal": Case("callback", _modal(_row(_button())), "data.components.0"),
    "six components in a modal": Case(
        "callback", _modal(*(_row(_input(custom_id=f"t{i}")) for i in range(6))), "data.components"
    ),
    "modal title over 45": Case("callback", _modal(_row(_input()), title="t" * 46), "data.title"),
    "text input without its label": Case(
        "callback", _modal(_row(_input(label=None))), "data.components.0.components.0.label"
    ),
    "text input min over max": Case(
        "callback",
        _modal(_row(_input(min_length=10, max_length=5))),
        "data.components.0.components.0.min_length",
    ),
    "label inside a Label": Case(
        "callback",
        _modal({"type": 18, "label": "Prompt", "component": _input()}),
        "data.components.0.component.label",
    ),
    "26 autocomplete choices": Case(
        "autocomplete",
        {"type": 8, "data": {"choices": [{"name": f"c{i}", "value": f"{i}"} for i in range(26)]}},
        "data.choices",
    ),
    # --- follow-ups
    "empty follow-up": Case("followup", {"content": None}, None, code=50006),
    "crossposted flag on a follow-up": Case(
        "followup", {"content": "a", "flags": CROSSPOSTED}, "flags"
    ),
    # --- application commands
    "uppercase command name": Case("commands", [_command("Paint")], "0.name"),
    "space in a command name": Case("commands", [_command("paint it")], "0.name"),
    "min_value on a string option": Case(
        "commands", [_command(options=[_option(3, min_value=1)])], "0.options.0.min_value"
    ),
    "min_length on an integer option": Case(
        "commands", [_command(options=[_option(4, min_length=1)])], "0.options.0.min_length"
    ),
    "min_value over max_value": Case(
        "commands",
        [_command(options=[_option(4, min_value=5, max_value=1)])],
        "0.options.0.min_value",
    ),
    "max_length over 6000": Case(
        "commands", [_command(options=[_option(3, max_length=6001)])], "0.options.0"
    ),
    "string choice in an integer option": Case(
        "commands",
        [_command(options=[_option(4, choices=[{"name": "a", "value": "a"}])])],
        "0.options.0",
    ),
    "option type 12": Case("commands", [_command(options=[_option(12)])], "0.options.0"),
    "required after optional": Case(
        "commands",
        [_command(options=[_option(name="a"), _option(name="b", required=True)])],
        "0.options.1",
    ),
    "choices with autocomplete": Case(
        "commands",
        [_command(options=[_option(choices=[{"name": "a", "value": "a"}], autocomplete=True)])],
        "0.options.0.autocomplete",
    ),
    "command over 8000 characters": Case(
        "commands",
        [
            _command(
                options=[
                    _option(name="a", choices=_long_choices("a")),
                    _option(name="b", choices=_long_choices("b")),
                ]
            )
        ],
        "0",
    ),
    "101 chat commands": Case("commands", [_command(f"c{i}") for i in range(101)], ""),
    "16 user commands": Case("commands", [_command(f"User {i}", kind=2) for i in range(16)], ""),
    "16 message commands": Case(
        "commands", [_command(f"Message {i}", kind=3) for i in range(16)], ""
    ),
    "description on a user command": Case(
        "commands", [_command("Profile", kind=2, description="d")], "0"
    ),
    "chat command without a description": Case(
        "commands", [_command(description="")], "0.description"
    ),
    "name used twice": Case("commands", [_command(), _command()], "1.name"),
}


@pytest.fixture
async def server() -> AsyncIterator[LoopbackDiscord]:
    async with LoopbackDiscord() as loopback:
        yield loopback


def _interaction(loopback: LoopbackDiscord, kind: int, source: int | None = None) -> Interaction:
    record = Interaction(
        id=snowflake(),
        token=secrets.token_urlsafe(48),
        type=kind,
        user=loopback.add_user("tester"),
        channel_id=loopback.channel("art").id,
        created=time.monotonic(),
        size_limit=loopback.attachment_size_limit,
        data={"name": "paint", "custom_id": "go"},
        source_message_id=source,
    )
    loopback.interactions[record.id] = record
    return record


def _route(loopback: LoopbackDiscord, where: str) -> tuple[str, str]:
    base, app = loopback.api_base, loopback.application_id
    if where == "channel":
        return "POST", f"{base}/channels/{loopback.channel('art').id}/messages"
    if where == "edit_v2":
        body = {"flags": V2, "components": [{"type": 10, "content": "hello"}]}
        message = loopback.new_message(loopback.channel("art").id, body, [], V2, None)
        return "PATCH", f"{base}/channels/{message.channel_id}/messages/{message.id}"
    if where == "commands":
        return "PUT", f"{base}/applications/{app}/commands"
    if where == "followup":
        record = _interaction(loopback, 2)
        record.response_type = 5
        return "POST", f"{base}/webhooks/{app}/{record.token}?wait=true"
    if where == "update":
        source = loopback.new_message(loopback.channel("art").id, {"content": "s"}, [], 0, None)
        record = _interaction(loopback, 3, source.id)
    else:
        record = _interaction(loopback, 4 if where == "autocomplete" else 2)
    return "POST", f"{base}/interactions/{record.id}/{record.token}/callback"


async def send(loopback: LoopbackDiscord, case: Case) -> tuple[int, dict[str, Any]]:
    method, url = _route(loopback, case.where)
    headers = {"Authorization": f"Bot {loopback.token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        if case.files or case.raw is not None:
            form = aiohttp.FormData()
            form.add_field("payload_json", case.raw or json.dumps(case.body).encode())
            for name, data in case.files:
                form.add_field(name, data, filename="a.png")
            request = http.request(method, url, data=form)
        else:
            request = http.request(method, url, json=case.body)
        async with request as response:
            return response.status, (await response.json()) if response.status != 204 else {}


def _leaf(tree: dict[str, Any], dotted: str) -> dict[str, Any]:
    node = tree
    for key in [k for k in dotted.split(".") if k]:
        assert key in node, f"errors tree has no {key!r} on the way to {dotted!r}: {node}"
        node = node[key]
    return node


def test_the_table_has_every_kind_the_issue_names() -> None:
    assert len(BROKEN) >= 38


@pytest.mark.parametrize("name", list(BROKEN))
async def test_broken_payload_is_refused_in_discords_shape(
    server: LoopbackDiscord, name: str
) -> None:
    case = BROKEN[name]
    status, body = await send(server, case)
    assert status == 400, body
    assert body["code"] == case.code and isinstance(body["message"], str), body
    if case.blamed is not None:
        errors = _leaf(body["errors"], case.blamed)
        found = [e for node in _walk(errors) for e in node]
        assert found and all(isinstance(e["code"], str) and e["message"] for e in found)
    assert server.violations  # the loopback records what a strict test fails on


def _walk(tree: dict[str, Any]) -> list[list[dict[str, Any]]]:
    lists = [tree["_errors"]] if "_errors" in tree else []
    for key, value in tree.items():
        if key != "_errors":
            lists += _walk(value)
    return lists


GOOD: dict[str, Case] = {
    "components v2 message": Case(
        "channel",
        {
            "flags": V2,
            "components": [
                {
                    "type": 17,
                    "accent_color": 0x5865F2,
                    "components": [
                        {"type": 10, "content": "## Your pictures"},
                        {"type": 12, "items": [{"media": {"url": "attachment://a.png"}}]},
                        {"type": 14, "divider": True},
                        _row(_button(), _button(custom_id="again", label="Again")),
                    ],
                }
            ],
            "attachments": [{"id": 0, "filename": "a.png"}],
        },
        None,
        files=[("files[0]", b"png")],
    ),
    "Devanagari and Thai command names": Case(
        "commands", [_command("नमस्ते"), _command("สวัสดี"), _command("ä-_'9")], None
    ),
    "100 chat, 15 user and 15 message commands": Case(
        "commands",
        [
            *(_command(f"c{i}") for i in range(100)),
            *(_command(f"User {i}", kind=2) for i in range(15)),
            *(_command(f"Message {i}", kind=3) for i in range(15)),
        ],
        None,
    ),
    "link button and emoji button": Case(
        "channel",
        {
            "components": [
                _row(
                    _button(style=5, custom_id=None, url="https://example.com"),
                    _button(label=None, emoji={"name": "🔁"}),
                )
            ]
        },
        None,
    ),
    "modal with a Label": Case(
        "callback", _modal({"type": 18, "label": "Prompt", "component": _input(label=None)}), None
    ),
}


@pytest.mark.parametrize("name", list(GOOD))
async def test_well_formed_payload_is_accepted(server: LoopbackDiscord, name: str) -> None:
    status, body = await send(server, GOOD[name])
    assert status in (200, 204), body
    assert server.violations == []
