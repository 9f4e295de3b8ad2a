"""The moderation workflow without Discord: who moderates, ban durations, bans refusing a member."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from safety import ModerationRecord
from studio import Notice, Requester
from studio.deliveries import DeliveryRecord
from studio.errors import InvalidSetting, ModeratorsOnly, Refused
from studio.guild_settings import GuildSettingsStore
from studio.moderation import ModerationDesk, parse_duration


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[ModerationDesk, list[Notice]]]:
    path = tmp_path / "state.db"
    record = ModerationRecord(path)
    guilds = GuildSettingsStore(path, lambda: ["tiny"], record)
    deliveries = DeliveryRecord(path)
    told: list[Notice] = []
    yield ModerationDesk(record, guilds, deliveries, told.append), told
    for closing in (record, guilds, deliveries):
        closing.close()


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("30m", timedelta(minutes=30)),
        (" 12H ", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("", None),
        (None, None),
        ("3650d", timedelta(days=3650)),
    ],
)
def test_durations_as_moderators_type_them(text: str | None, length: timedelta | None) -> None:
    assert parse_duration(text) == length


@pytest.mark.parametrize("text", ["forever", "0m", "3651d", "5y", "1.5h", "-2d", "99999w"])
def test_a_bad_duration_names_the_field_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_duration(text)
    assert caught.value.field == "duration" and "30m, 12h, 7d, 2w" in caught.value.message


def test_moderators_by_permission_or_by_the_guilds_role(
    desk: tuple[ModerationDesk, list[Notice]],
) -> None:
    moderation, _ = desk
    member = Requester(user_id=1, guild_id=10, channel_id=100, role_ids=(55,))
    assert not moderation.is_moderator(member)
    assert moderation.is_moderator(Requester(1, 10, 100, manage_messages=True))
    moderation.guilds.set(10, 99, "moderator_role", 55)
    assert moderation.is_moderator(member)
    assert not moderation.is_moderator(Requester(1, 11, 100, role_ids=(55,)))  # another guild
    with pytest.raises(ModeratorsOnly, match="Only moderators can ban members"):
        moderation.require_moderator(Requester(2, 10, 100), "ban members")


async def test_a_ban_with_a_duration_refuses_the_member_until_it_ends_or_is_lifted(
    desk: tuple[ModerationDesk, list[Notice]],
) -> None:
    moderation, _ = desk
    mod = Requester(9, 10, 100, manage_messages=True)
    carol = Requester(3, 10, 100)
    with pytest.raises(ModeratorsOnly):
        await moderation.ban(carol, 4, "2h", "no")
    ban = await moderation.ban(mod, carol.user_id, "2h", "spamming")
    assert ban.expires_at is not None
    assert timedelta(hours=1, minutes=59) < ban.expires_at - ban.created_at <= timedelta(hours=2)
    with pytest.raises(Refused, match=r"banned from painting here until .* UTC: spamming"):
        await moderation.refuse_if_banned(carol)
    await moderation.refuse_if_banned(Requester(3, 11, 100))  # only in that guild
    assert [b.user_id for b in await moderation.bans(mod)] == [3]
    assert await moderation.unban(mod, carol.user_id)
    await moderation.refuse_if_banned(carol)
    assert not await moderation.unban(mod, carol.user_id)


async def test_the_log_hears_only_where_a_guild_has_a_log_channel(
    desk: tuple[ModerationDesk, list[Notice]],
) -> None:
    moderation, told = desk
    entry = moderation.record.log("dismiss", guild_id=10, reason="x")
    await moderation.tell(entry)
    assert told == []
    moderation.guilds.set(10, 99, "mod_log_channel", 500)
    await moderation.tell(entry)
    assert [(n.channel_id, n.entry) for n in told] == [(500, entry)]  # type: ignore[union-attr]
