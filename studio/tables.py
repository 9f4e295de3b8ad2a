"""Studio's tables in the shared SQLite file: one owner class per module, opened the same way.

Each owner (the delivery record, the history index, members' preferences, the quota ledger)
keeps its schema version in its own ``<owner>_meta`` table (``safety.schema.migrate_tables``),
guards its connection with a lock (the methods run in worker threads), and turns any SQLite
error while opening into one ``SettingsStoreError`` that names the file.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import ClassVar

from safety.schema import migrate_tables, open_shared
from studio.errors import SettingsStoreError


class StudioTables:
    """Base of an owner of ``studio_*`` tables: set ``META``, ``MIGRATIONS`` and ``OWNER``."""

    META: ClassVar[str]
    MIGRATIONS: ClassVar[dict[int, str]]
    OWNER: ClassVar[str]
    """How errors name the tables: "the history index" → "the history index has schema 3"."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        try:
            self._db = open_shared(path)
            with self._lock:
                migrate_tables(
                    self._db, self.META, self.MIGRATIONS, SettingsStoreError, f"{self.OWNER} has"
                )
                self._opened()
        except sqlite3.Error as exc:
            raise SettingsStoreError(f"cannot open {self.OWNER} in {path}: {exc}") from exc

    def _opened(self) -> None:
        """Once the tables are current (the lock is held): one-off work of an owner."""

    def close(self) -> None:
        with self._lock:
            self._db.close()
