"""Logging for ``muralist bot``: discord.py's handler, with interaction tokens taken out.

At DEBUG, discord.py logs every gateway event (an interaction's payload carries its token) and
every request URL (``/interactions/{id}/{token}/callback``, ``/webhooks/{app}/{token}/…``). A
token lets anyone answer, edit or delete the bot's reply for 15 minutes, so no log line keeps one.
"""

from __future__ import annotations

import logging
import re

import discord

REDACTED = "[token]"
_PATTERNS = (
    (re.compile(r"(/interactions/\d+/)[^/\s?'\"]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(/webhooks/\d+/)[^/\s?'\"]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+"""), rf"\g<1>{REDACTED}"),
    (re.compile(r"(Bot )[A-Za-z0-9_\-.]{20,}"), rf"\g<1>{REDACTED}"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokens(logging.Filter):
    """Rewrites each record's message with its tokens replaced (on a handler, so it sees the
    records of every logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup(level: int) -> None:
    """discord.py's coloured handler on the root logger, with the tokens filtered out."""
    discord.utils.setup_logging(level=level, root=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
