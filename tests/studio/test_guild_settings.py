"""The guild settings store on real SQLite: validated, all or nothing, kept across reopening,
its history in the moderation record, and its schema migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from safety import ModerationRecord
from studio.errors import InvalidSetting, SettingsStoreError
from studio.guild_settings import _MIGRATIONS, GuildSettingsStore


def _store(path: Path) -> GuildSettingsStore:
    return GuildSettingsStore(path, lambda: ["tiny", "tiny-xl"], ModerationRecord(path))


def test_store_validates_names_the_setting_and_keeps_nothing_half_written(tmp_path: Path) -> None:
    store = _store(tmp_path / "state.db")
    with pytest.raises(InvalidSetting) as limit:
        store.set_many(1, 9, {"default_steps": 12, "per_user_cap": 0})
    assert limit.value.field == "per_user_cap" and "1..100" in limit.value.message
    assert store.get(1).default_steps is None  # the valid half was not stored either

    with pytest.raises(InvalidSetting) as model:
        store.set(1, 9, "default_model", "sd-ultra")
    assert model.value.field == "default_model" and "tiny, tiny-xl" in model.value.message
    with pytest.raises(InvalidSetting) as regex:
        store.add_term(1, 9, "(a+)+$", is_regex=True)
    assert regex.value.field == "terms" and "nests a repeat" in regex.value.message
    with pytest.raises(InvalidSetting) as broken:
        store.add_term(1, 9, "(unclosed", is_regex=True)
    assert "invalid pattern" in broken.value.message
    with pytest.raises(InvalidSetting) as aspect:
        store.set(1, 9, "default_aspect", "5:1")
    assert aspect.value.field == "default_aspect" and "16:9" in aspect.value.message
    with pytest.raises(InvalidSetting):
        store.set(1, 9, "cooldown_seconds", 4000)

    store.set_allowed_models(1, 9, ["tiny"])
    with pytest.raises(InvalidSetting) as outside:
        store.set(1, 9, "default_model", "tiny-xl")
    assert "not among the allowed models" in outside.value.message
    assert [c.setting for c in store.history(1)] == ["allowed_models"]  # refusals: no trace


def test_store_survives_reopening_and_keeps_history(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = _store(path)
    store.set_many(7, 100, {"default_steps": 12, "cooldown_seconds": 2.5})
    store.add_term(7, 100, "Spoilers")
    store.add_term(7, 101, r"\bep(isode)? ?\d+\b", is_regex=True)
    store.set_channel_nsfw(7, 100, 555, "blur_spoiler")
    store.add_exemption(7, 100, "gore")
    store.close()

    again = _store(path)
    settings = again.get(7)
    assert (settings.default_steps, settings.cooldown_seconds) == (12, 2.5)
    assert [t.text for t in settings.terms] == ["spoilers", r"\bep(isode)? ?\d+\b"]
    assert settings.policy_for(555) == "blur_spoiler" and settings.policy_for(1) == "withhold"
    assert settings.safety_for(555).sfw_action == "blur_spoiler"
    assert settings.exemptions == ("gore",)
    assert again.get(8).default_steps is None  # other guilds untouched
    history = again.history(7)
    assert [c.setting for c in history][-2:] == ["cooldown_seconds", "default_steps"]
    assert history[-1].actor_id == 100 and history[-1].old is None and history[-1].new == 12
    again.remove_term(7, 100, "SPOILERS")  # as typed, matched after normalising
    assert [t.text for t in again.get(7).terms] == [r"\bep(isode)? ?\d+\b"]
    with pytest.raises(InvalidSetting):
        again.remove_term(7, 100, "never-listed")


def test_changes_kept_by_schema_1_move_into_the_moderation_record(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(_MIGRATIONS[1])
    old.execute("CREATE TABLE bot_meta (key TEXT PRIMARY KEY, value TEXT)")
    old.execute("INSERT INTO bot_meta VALUES ('schema_version', '1')")
    old.executemany(
        "INSERT INTO bot_setting_changes (at, guild_id, actor_id, setting, old, new)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (1_700_000_000.0, 7, 100, "default_steps", "null", "12"),
            (1_700_000_060.0, 7, 101, "nsfw_policy", '"withhold"', '"allow"'),
        ],
    )
    old.commit()
    old.close()

    store = _store(path)
    history = store.history(7)
    assert [(c.setting, c.actor_id, c.old, c.new) for c in history] == [
        ("nsfw_policy", 101, "withhold", "allow"),
        ("default_steps", 100, None, 12),
    ]
    assert [c.at for c in history] == [1_700_000_060.0, 1_700_000_000.0]
    entry = ModerationRecord(path).recent(7, 1)[0]
    assert (entry.kind, entry.reason) == ("setting", "`nsfw_policy`: `withhold` → `allow`")
    store.close()
    again = _store(path)  # reopening copies nothing twice
    assert len(again.history(7)) == 2
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert ("bot_setting_changes",) not in tables and ("bot_result_messages",) not in tables
    again.close()

    latest = max(_MIGRATIONS)
    newer = sqlite3.connect(path)
    newer.execute(f"UPDATE bot_meta SET value = '{latest + 1}' WHERE key = 'schema_version'")
    newer.commit()
    with pytest.raises(
        SettingsStoreError, match=f"schema {latest + 1}, newer than this Muralist's {latest}"
    ):
        _store(path)
