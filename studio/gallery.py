"""``/history``: a member's delivered results, one page per result, newest first.

A member sees their own results; a moderator sees anyone's in the guild. Each page is the stored
job itself (images, seeds, settings), so the front end shows it with a result's buttons. A result
whose images the retention purged, or that the moderation record hid or removed since it was
indexed, is marked in the index and skipped (the record is asked too, so a path that missed the
index's hook still never shows a taken-down result).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from generation.queue import Job, JobNotFound, JobStatus, QueueService
from safety import ModerationRecord
from studio.errors import InvalidRequest
from studio.history import MAX_QUERY, HistoryIndex, HistoryItem
from studio.moderation import ModerationDesk
from studio.types import JobRecord, Requester

_TAKEN_DOWN = {"hidden": "hidden", "removed": "removed"}


@dataclass(frozen=True)
class HistoryPage:
    """One result of a member's history: ``position`` (0: the newest) of ``total`` listed;
    ``job`` is None when nothing is listed (no result yet, or none matches ``query``)."""

    user_id: int
    query: str | None
    position: int
    total: int
    job: JobRecord | None


def item_of(job: Job) -> HistoryItem:
    """What the index keeps of a finished job (the prompt as it conditioned the images)."""
    return HistoryItem(
        job_id=job.id,
        guild_id=int(job.guild_id),
        user_id=int(job.user_id),
        channel_id=int(job.channel_id),
        at=job.finished_at or job.created_at,
        prompt=job.request.prompt,
    )


class Gallery:
    def __init__(
        self,
        index: HistoryIndex,
        queue: QueueService,
        record: ModerationRecord,
        moderation: ModerationDesk,
        load: Callable[[Job], Awaitable[JobRecord]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.queue = queue
        self.record = record
        self.moderation = moderation
        self._load = load
        self._clock = clock

    def _since(self) -> float:
        """Results older than the job store's retention have lost their images."""
        days = self.queue.config.retention_days
        return self._clock() - days * 86400 if days > 0 else 0.0

    async def page(
        self,
        who: Requester,
        user_id: int | None = None,
        query: str | None = None,
        position: int = 0,
    ) -> HistoryPage:
        """The result at ``position`` of ``user_id``'s history (default: the member's own)."""
        user = who.user_id if user_id is None else user_id
        if user != who.user_id:
            await asyncio.to_thread(
                self.moderation.require_moderator, who, "see another member's history"
            )
        query = (query or "").strip() or None
        if query is not None and len(query) > MAX_QUERY:
            raise InvalidRequest(
                "query", f"at most {MAX_QUERY} characters (got {len(query)}); use fewer words"
            )
        for _ in range(50):  # each pass drops one stale row; a page is found long before
            since = self._since()
            total = await asyncio.to_thread(self.index.count, who.guild_id, user, query, since)
            if total == 0:
                return HistoryPage(user, query, 0, 0, None)
            position = min(max(position, 0), total - 1)
            ids = await asyncio.to_thread(
                self.index.page, who.guild_id, user, query, position, 1, since
            )
            if not ids:
                continue
            job = await asyncio.to_thread(self._still_shown, ids[0])
            if job is not None:
                return HistoryPage(user, query, position, total, await self._load(job))
        return HistoryPage(user, query, 0, 0, None)

    def _still_shown(self, job_id: str) -> Job | None:
        """The job when its result may still be shown, else None (and the index told why)."""
        try:
            job = self.queue.get(job_id)
        except JobNotFound:
            self.index.mark(job_id, "expired")
            return None
        if job.status is not JobStatus.DONE or not job.image_paths:
            self.index.mark(job_id, "expired")
            return None
        status = self.record.result_state(job_id).status
        if status in ("hidden", "removed"):
            self.index.mark(job_id, "hidden" if status == "hidden" else "removed")
            return None
        return job

    def delivered(self, job_id: str) -> None:
        """Index a result once it is posted (a blocked or failed job has nothing to show)."""
        try:
            job = self.queue.get(job_id)
        except JobNotFound:
            return
        if job.status is JobStatus.DONE and job.image_paths:
            self.index.add(item_of(job))

    def backfill(self, jobs: list[Job], held: Callable[[str], bool]) -> int | None:
        """Index the delivered results of an older state file once (not those waiting for a
        moderator's approval, nor those the moderation record hid or removed)."""
        items = [
            item_of(job)
            for job in jobs
            if job.status is JobStatus.DONE
            and job.delivered
            and job.image_paths
            and not held(job.id)
            and self.record.result_state(job.id).status not in _TAKEN_DOWN
        ]
        return self.index.backfill(items)
