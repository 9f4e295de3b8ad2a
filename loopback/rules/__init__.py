"""Discord's documented rules that its OpenAPI schema cannot express, each with its page.

These run after a body has passed the schema (``loopback.spec``), as Discord's own second phase
does: the schema has already checked types, lengths and the kinds of components, so the code here
reads fields without defending against wrong types. Each function returns the breaches found
(empty when the payload keeps the rules), with the path of the field at fault.
"""

from __future__ import annotations

from loopback.rules.commands import check_commands
from loopback.rules.components import check_components, check_edit_of_v2, check_modal
from loopback.rules.docs import CALLBACK_DOC, EPHEMERAL, IS_COMPONENTS_V2, LOADING
from loopback.rules.messages import (
    check_attachments,
    check_empty,
    check_flags,
    check_mentions,
    check_message,
)

__all__ = [
    "CALLBACK_DOC",
    "EPHEMERAL",
    "IS_COMPONENTS_V2",
    "LOADING",
    "check_attachments",
    "check_commands",
    "check_components",
    "check_edit_of_v2",
    "check_empty",
    "check_flags",
    "check_mentions",
    "check_message",
    "check_modal",
]
