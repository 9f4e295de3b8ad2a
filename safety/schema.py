"""Versioned tables in the SQLite file the packages share.

The file holds the job store's, the moderation record's and the bot's tables, so ``PRAGMA
user_version`` (one number per file) cannot version them all: each owner keeps its version in its
own ``<owner>_meta`` table, and its numbered migrations run here in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 30.0
"""How long a write waits for another connection's: every owner of a table in the shared file
(the job store too) waits this long, so a burst of short writes on a starved machine queues up
instead of failing with "database is locked"."""


def open_shared(path: Path | str) -> sqlite3.Connection:
    """A connection to the shared file for one owner: usable from worker threads (the owner
    guards it with a lock), autocommit (owners open their own transactions), waiting up to
    ``BUSY_TIMEOUT_SECONDS`` for another connection's write, and in WAL mode so readers do not
    block the writer."""
    db = sqlite3.connect(
        str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS
    )
    if str(path) != ":memory:":
        db.execute("PRAGMA journal_mode = WAL")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on an autocommit connection; ``ROLLBACK`` on any error.

    Immediate, so the write lock is taken up front and a concurrent writer waits (busy_timeout)
    instead of failing halfway. The caller holds the connection's lock.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def migrate_tables(
    db: sqlite3.Connection,
    meta: str,
    migrations: Mapping[int, str],
    newer: type[Exception],
    owner: str,
) -> None:
    """Run the migrations after the version stored in ``meta``, all or none.

    ``db`` is in autocommit mode (``isolation_level=None``) and the caller holds its lock. A file
    whose version is past the last migration raises ``newer`` naming ``owner`` (``"the guild
    settings have"``): an older Muralist must not write into a newer schema.
    """
    latest = max(migrations)
    with transaction(db):
        db.execute(f"CREATE TABLE IF NOT EXISTS {meta} (key TEXT PRIMARY KEY, value TEXT)")
        row = db.execute(f"SELECT value FROM {meta} WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > latest:
            raise newer(
                f"{owner} schema {version}, newer than this Muralist's {latest}; upgrade Muralist"
            )
        for step in range(version + 1, latest + 1):
            for statement in migrations[step].split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute(
            f"INSERT OR REPLACE INTO {meta} (key, value) VALUES ('schema_version', ?)",
            (str(latest),),
        )
