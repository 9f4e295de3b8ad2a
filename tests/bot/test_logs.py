"""Interaction tokens never reach the log, whatever discord.py logs at DEBUG."""

from __future__ import annotations

import logging

from bot.logs import REDACTED, RedactTokens, redact

TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQtdG9rZW4tdmFsdWU"


def test_urls_and_payloads_lose_their_tokens() -> None:
    lines = {
        f"POST https://x/api/v10/interactions/123/{TOKEN}/callback has returned 204": (
            f"/interactions/123/{REDACTED}/callback"
        ),
        f"PATCH https://x/api/v10/webhooks/42/{TOKEN}/messages/@original": (
            f"/webhooks/42/{REDACTED}/messages/@original"
        ),
        f"POST /webhooks/42/{TOKEN}?wait=1": f"/webhooks/42/{REDACTED}?wait=1",
        f"WebSocket Event: {{'t': 'INTERACTION_CREATE', 'd': {{'token': '{TOKEN}'}}}}": (
            f"'token': '{REDACTED}'"
        ),
        f'{{"token": "{TOKEN}", "id": "1"}}': f'"token": "{REDACTED}"',
    }
    for line, kept in lines.items():
        cleaned = redact(line)
        assert TOKEN not in cleaned and kept in cleaned


def test_the_filter_rewrites_formatted_records() -> None:
    record = logging.LogRecord(
        "discord.http",
        logging.DEBUG,
        __file__,
        1,
        "%s %s has returned %s",
        ("POST", f"http://h/api/v10/interactions/9/{TOKEN}/callback", 204),
        None,
    )
    assert RedactTokens().filter(record)
    assert TOKEN not in record.getMessage() and "has returned 204" in record.getMessage()
