"""Rules of a message the schema cannot state: flags per kind of send, mentions, emptiness,
embeds' total length, and which uploads ``attachments`` may name."""

from __future__ import annotations

from typing import Any

from loopback.rules.components import check_components, check_v2_message
from loopback.rules.docs import (
    CALLBACK_DOC,
    DOCS,
    EMBED_DOC,
    FLAGS_ALLOWED,
    MAX_CONTENT,
    MAX_EMBED_TOTAL,
    MENTIONS_DOC,
    MESSAGE_DOC,
    breach,
)
from loopback.spec import Breach, FieldPath


def check_flags(flags: int | None, kind: str, path: FieldPath = ("flags",)) -> list[Breach]:
    allowed = FLAGS_ALLOWED[kind]
    extra = int(flags or 0) & ~allowed
    if not extra:
        return []
    doc = MESSAGE_DOC if kind in ("channel_create", "edit") else CALLBACK_DOC
    return [breach(path, f"flags {extra} cannot be set here (allowed: {allowed})", doc)]


def check_mentions(allowed: dict[str, Any] | None, path: FieldPath) -> list[Breach]:
    """``parse: ["users"]`` with a ``users`` list (or roles and roles) is refused (MENTIONS_DOC)."""
    problems = []
    for kind in ("users", "roles"):
        if allowed and kind in (allowed.get("parse") or []) and allowed.get(kind):
            problems.append(
                breach(
                    (*path, kind),
                    f"parse contains {kind!r} and a {kind} list is given: they are exclusive",
                    MENTIONS_DOC,
                )
            )
    return problems


def is_empty(body: dict[str, Any], files: int) -> bool:
    keys = ("content", "embeds", "components", "sticker_ids", "poll", "attachments")
    return not files and not any(body.get(k) for k in keys)


def check_empty(body: dict[str, Any], files: int) -> list[Breach]:
    """A new message needs content, embeds, components, stickers, a poll or a file (MESSAGE_DOC)."""
    if not is_empty(body, files):
        return []
    return [Breach((), "MESSAGE_EMPTY", "Cannot send an empty message", json_code=50006)]


def _embed_chars(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for item in embed.get("fields") or []:
        total += len(item.get("name") or "") + len(item.get("value") or "")
    return total


def check_embeds(embeds: list[dict[str, Any]] | None) -> list[Breach]:
    """Embed fields need a name and a value; 6,000 characters over all embeds (EMBED_DOC)."""
    problems = []
    for index, embed in enumerate(embeds or []):
        for number, item in enumerate(embed.get("fields") or []):
            for key in ("name", "value"):
                if not item.get(key):
                    path = ("embeds", index, "fields", number, key)
                    problems.append(
                        breach(path, "an embed field needs a name and a value", EMBED_DOC)
                    )
    total = sum(_embed_chars(e) for e in embeds or [])
    if total > MAX_EMBED_TOTAL:
        problems.append(
            breach(
                ("embeds",),
                f"at most {MAX_EMBED_TOTAL} characters in all embeds, got {total}",
                EMBED_DOC,
                "BASE_TYPE_MAX_LENGTH",
            )
        )
    return problems


def check_message(
    body: dict[str, Any], flags_kind: str, *, create: bool, files: int
) -> list[Breach]:
    """Every rule of a message create or edit, beyond the schema."""
    problems = check_flags(body.get("flags"), flags_kind)
    content = body.get("content") or ""
    if len(content) > MAX_CONTENT:
        problems.append(
            breach(
                ("content",),
                f"at most {MAX_CONTENT} characters, got {len(content)}",
                MESSAGE_DOC,
                "BASE_TYPE_MAX_LENGTH",
            )
        )
    problems += check_mentions(body.get("allowed_mentions"), ("allowed_mentions",))
    problems += check_embeds(body.get("embeds"))
    problems += check_components(body.get("components"), body.get("flags"))
    problems += check_v2_message(body)
    if create and not problems:
        problems += check_empty(body, files)
    return problems


def check_attachments(
    body: dict[str, Any], uploads: list[int], existing: set[int] | None = None
) -> list[Breach]:
    """Each ``attachments[].id`` names an uploaded ``files[n]`` (n) or, on an edit, an attachment
    the message already has (https://discord.com/developers/docs/reference#uploading-files)."""
    doc = f"{DOCS}/reference#uploading-files"
    problems = []
    for index, attachment in enumerate(body.get("attachments") or []):
        ident = int(attachment["id"])
        if ident not in uploads and ident not in (existing or set()):
            problems.append(
                breach(
                    ("attachments", index, "id"),
                    f"no files[{ident}] was uploaded and the message has no attachment {ident}",
                    doc,
                )
            )
    return problems
