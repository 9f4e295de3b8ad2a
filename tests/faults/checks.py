"""What every fault test asserts, read from the loopback Discord, the state file and the logs:
each job delivered exactly once, no message left at a progress state, every interaction
answered, no traceback in the log for a user's error."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from loopback import LoopbackDiscord, Sent, StoredMessage

PROGRESS = ("⏳ Queued", "🎨 Painting")
_POSTS = {"edit_original", "followup", "channel_message", "edit_channel", "callback"}


def job_of(message: StoredMessage) -> str:
    """The job id a result message shows in its embed's footer."""
    return str(message.embeds[0]["footer"]["text"]).removeprefix("job ")


def _embeds(sent: Sent) -> list[dict[str, Any]]:
    payload = sent.payload if isinstance(sent.payload, dict) else {}
    data = payload.get("data") if sent.kind == "callback" else payload
    embeds = (data or {}).get("embeds") or []
    return [e for e in embeds if isinstance(e, dict)]


def result_posts(loopback: LoopbackDiscord, job_id: str) -> list[Sent]:
    """Every accepted request that put this job's result on a message (a post or an edit)."""
    return [
        s
        for s in loopback.transcript
        if s.kind in _POSTS
        and s.status == 200
        and any(f"job {job_id}" in str((e.get("footer") or {}).get("text")) for e in _embeds(s))
    ]


def delivered_jobs(db_path: Path) -> dict[str, bool]:
    """Each job in the state file and whether it is marked delivered (read-only)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {row[0]: bool(row[1]) for row in db.execute("SELECT id, delivered FROM jobs")}
    finally:
        db.close()


def assert_each_job_delivered_once(loopback: LoopbackDiscord, db_path: Path) -> None:
    jobs = delivered_jobs(db_path)
    assert jobs, "no job was asked"
    for job_id, delivered in jobs.items():
        assert delivered, f"job {job_id} is not marked delivered"
        posts = result_posts(loopback, job_id)
        assert len(posts) <= 1, f"job {job_id} was posted {len(posts)} times: {posts}"


def assert_no_progress_left(loopback: LoopbackDiscord) -> None:
    """No reply or post still says "Queued" or "Painting", and none is still "thinking…"."""
    for message in loopback.messages.values():
        if message.deleted or message.ephemeral:
            continue
        assert not message.loading, f"message {message.id} is still 'thinking…'"
        assert not message.content.startswith(PROGRESS), f"left at: {message.content!r}"


def assert_every_interaction_answered(loopback: LoopbackDiscord) -> None:
    for record in loopback.interactions.values():
        assert record.response_type is not None, f"{record.describe()} got no answer"


def assert_no_traceback(*logs: str) -> None:
    for log in logs:
        assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
