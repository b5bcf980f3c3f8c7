"""Event envelopes round-trip through JSON; unknown fields and versions are tolerated."""

from __future__ import annotations

import datetime as dt

from shared.events import (
    EVENT_TYPES,
    EventEnvelope,
    ShowCreatedV1,
    UserDeletedV1,
    make_envelope,
    parse_event,
)


def test_every_event_type_is_unique_and_round_trips() -> None:
    assert len(EVENT_TYPES) == len({t for t, _ in EVENT_TYPES})
    event = ShowCreatedV1(show_id=1, user_id=2, concert_id=3, date=dt.date(2024, 12, 1), show_name="A at B")
    env = make_envelope(event, "shows")
    again = EventEnvelope.model_validate_json(env.model_dump_json())
    assert again.id == env.id and again.type == "show.created"
    assert parse_event(again) == event


def test_consumers_ignore_unknown_fields() -> None:
    env = make_envelope(UserDeletedV1(user_id=5), "auth")
    env.data["added_in_a_later_release"] = True
    assert parse_event(env) == UserDeletedV1(user_id=5)


def test_unknown_version_is_none() -> None:
    env = make_envelope(UserDeletedV1(user_id=5), "auth")
    env.version = 99
    assert parse_event(env) is None
