"""Domain errors of the shows service (rendered by shared's single error handler)."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed


class ShowNotFound(NotFound):
    default_code = "show_not_found"
    default_message = "Show not found."


class SongNotFound(NotFound):
    default_code = "song_not_found"
    default_message = "Song not found in this show's setlist."


class NotShowOwner(Forbidden):
    default_code = "not_show_owner"
    default_message = "Only the person who logged this show can change it."


class DuplicateShow(Conflict):
    default_code = "duplicate_show"
    default_message = "You have already logged this concert."


class SetlistFull(Conflict):
    default_code = "setlist_full"
    default_message = "This setlist has reached the maximum number of songs."


class CheckinClosed(Conflict):
    default_code = "checkin_closed"
    default_message = "Check-in is only open around the concert's date."


class NotAtConcert(Forbidden):
    default_code = "not_at_concert"
    default_message = "Only people who logged or checked in at this concert can see who is there."


class InvalidField(ValidationFailed):
    """A single-field validation error raised by domain logic (not by pydantic)."""
