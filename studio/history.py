"""The history index: every delivered result of a member, newest first, searchable by its words.

Studio's ``studio_history`` table (versioned in ``studio_history_meta``) holds one row per result
that reached its channel, with the prompt's text in an FTS5 table beside it (``porter`` stemming,
so "cats" finds "cat"). A row is written when a result is delivered (``Studio.delivered``), and
once per state file for the jobs finished before this index existed (``backfill``).

A row's ``state`` keeps what happened to the result since: ``deleted`` (its requester or a
moderator deleted it), ``removed`` (a moderator took it down), ``hidden`` (enough reports hid it;
a moderator's approval shows it again), ``expired`` (the job store's retention purged its images).
Only ``shown`` rows are ever listed: a deleted or removed result never shows again, even when it
is posted anew.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from safety.schema import transaction
from studio.tables import StudioTables

HistoryState = Literal["shown", "deleted", "removed", "hidden", "expired"]
MAX_QUERY = 60
"""A search's characters: the query travels in the custom_id of the history's page buttons."""

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE studio_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL UNIQUE,
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        at REAL NOT NULL,
        prompt TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'shown'
    );
    CREATE INDEX studio_history_member ON studio_history (guild_id, user_id, state, at);
    CREATE VIRTUAL TABLE studio_history_words USING fts5(
        prompt, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    """,
}
_WORD = re.compile(r"\w+", re.UNICODE)
# A state a new delivery may not undo: the result was deleted or taken down for good.
_FINAL: tuple[HistoryState, ...] = ("deleted", "removed")


@dataclass(frozen=True)
class HistoryItem:
    """One delivered result as the index keeps it."""

    job_id: str
    guild_id: int
    user_id: int
    channel_id: int
    at: float
    prompt: str


def match_expression(query: str | None) -> str | None:
    """The member's words as an FTS5 expression: every word must appear, the last one also as
    a prefix ("ligh" finds "lighthouse"); None when the query has no words. Each word is quoted,
    so no character a member types can change the expression's syntax."""
    words = _WORD.findall(query or "")
    if not words:
        return None
    quoted = [f'"{word}"' for word in words]
    quoted[-1] += "*"
    return " AND ".join(quoted)


class HistoryIndex(StudioTables):
    """The ``studio_history`` tables. Thread-safe; each method is one short transaction."""

    META = "studio_history_meta"
    MIGRATIONS = _MIGRATIONS
    OWNER = "the history index"

    # -- writes --------------------------------------------------------------------------------
    def add(self, item: HistoryItem) -> bool:
        """Index a delivered result; True when it is listed now. A result that was hidden by
        reports and is posted again (a moderator approved it) shows again; a deleted or removed
        one stays out."""
        with self._lock, transaction(self._db):
            return self._add(item)

    def _add(self, item: HistoryItem) -> bool:
        row = self._db.execute(
            "SELECT state FROM studio_history WHERE job_id = ?", (item.job_id,)
        ).fetchone()
        if row is not None:
            if row[0] in _FINAL:
                return False
            self._db.execute(
                "UPDATE studio_history SET state = 'shown' WHERE job_id = ?", (item.job_id,)
            )
            return True
        cursor = self._db.execute(
            "INSERT INTO studio_history (job_id, guild_id, user_id, channel_id, at, prompt) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (item.job_id, item.guild_id, item.user_id, item.channel_id, item.at, item.prompt),
        )
        self._db.execute(
            "INSERT INTO studio_history_words (rowid, prompt) VALUES (?, ?)",
            (cursor.lastrowid, item.prompt),
        )
        return True

    def mark(self, job_id: str, state: HistoryState) -> None:
        """What became of a result; ``deleted`` and ``removed`` are never undone."""
        with self._lock:
            self._db.execute(
                "UPDATE studio_history SET state = ? WHERE job_id = ? AND state NOT IN (?, ?)",
                (state, job_id, *_FINAL),
            )

    def backfilled(self) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM studio_history_meta WHERE key = 'backfilled'"
            ).fetchone()
        return row is not None

    def backfill(self, items: Iterable[HistoryItem]) -> int | None:
        """Once per file: index the results delivered before the index existed. Returns how many
        were added, or None when this already ran."""
        with self._lock, transaction(self._db):
            done = self._db.execute(
                "SELECT 1 FROM studio_history_meta WHERE key = 'backfilled'"
            ).fetchone()
            if done:
                return None
            added = sum(self._add(item) for item in items)
            self._db.execute("INSERT INTO studio_history_meta VALUES ('backfilled', ?)", (added,))
        return added

    # -- reads ---------------------------------------------------------------------------------
    def _where(
        self, guild_id: int, user_id: int, query: str | None, since: float
    ) -> tuple[str, list[object]] | None:
        expression = match_expression(query)
        sql = (
            "FROM studio_history h WHERE h.guild_id = ? AND h.user_id = ? "
            "AND h.state = 'shown' AND h.at >= ?"
        )
        params: list[object] = [guild_id, user_id, since]
        if query is not None and query.strip() and expression is None:
            return None  # only punctuation: nothing can match
        if expression is not None:
            sql += (
                " AND h.id IN (SELECT rowid FROM studio_history_words "
                "WHERE studio_history_words MATCH ?)"
            )
            params.append(expression)
        return sql, params

    def count(
        self, guild_id: int, user_id: int, query: str | None = None, since: float = 0.0
    ) -> int:
        """The member's listed results (finished at ``since`` or later)."""
        where = self._where(guild_id, user_id, query, since)
        if where is None:
            return 0
        sql, params = where
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) {sql}", params).fetchone()[0])

    def page(
        self,
        guild_id: int,
        user_id: int,
        query: str | None,
        offset: int,
        limit: int = 1,
        since: float = 0.0,
    ) -> list[str]:
        """The job ids at ``offset`` (0: the newest) of the member's listed results."""
        where = self._where(guild_id, user_id, query, since)
        if where is None:
            return []
        sql, params = where
        with self._lock:
            rows = self._db.execute(
                f"SELECT h.job_id {sql} ORDER BY h.at DESC, h.id DESC LIMIT ? OFFSET ?",
                [*params, limit, max(0, offset)],
            ).fetchall()
        return [row[0] for row in rows]

    def state(self, job_id: str) -> HistoryState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state FROM studio_history WHERE job_id = ?", (job_id,)
            ).fetchone()
        return None if row is None else row[0]
