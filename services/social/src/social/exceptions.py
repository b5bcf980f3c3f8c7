"""Domain errors of the social service (rendered by shared's error handler)."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed


class ShowNotFound(NotFound):
    default_code = "show_not_found"
    default_message = "Show not found."


class PhotoNotFound(NotFound):
    default_code = "photo_not_found"
    default_message = "Photo not found."


class CommentNotFound(NotFound):
    default_code = "comment_not_found"
    default_message = "Comment not found."


class UserNotFound(NotFound):
    default_code = "user_not_found"
    default_message = "User not found."


class FriendshipNotFound(NotFound):
    default_code = "friendship_not_found"
    default_message = "Friend request or friendship not found."


class NotAllowed(Forbidden):
    default_code = "forbidden"
    default_message = "You are not allowed to do this."


class ChatNotAllowed(Forbidden):
    default_code = "chat_not_allowed"
    default_message = "Only people at this concert (checked in or who logged it) may use its chat."


class FriendshipConflict(Conflict):
    default_code = "friendship_conflict"
    default_message = "This friend request is not pending."


class InvalidInput(ValidationFailed):
    default_code = "validation_error"
