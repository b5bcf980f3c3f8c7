"""SQLAlchemy models: local copies fed by events (users, shows, feed) and what social owns."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import utcnow
from social.db import Base


class User(Base):
    """Copy of auth's user at a version (email only for exact-email search, never returned); `deleted` = tombstone."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(64))
    username_lower: Mapped[str] = mapped_column(String(64), index=True)
    email_lower: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ShowRef(Base):
    """Copy of a show at a version (feed visibility, names, concert); `deleted` = tombstone, version 0 = placeholder."""

    __tablename__ = "show_ref"
    show_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    concert_id: Mapped[int] = mapped_column(Integer, index=True)
    owner_id: Mapped[int] = mapped_column(Integer, index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="friends")
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)  # visible_to narrows friends
    show_name: Mapped[str] = mapped_column(String(512), default="")
    show_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ShowAudience(Base):
    """One friend id of a show's `visible_to` list."""

    __tablename__ = "show_audience"
    show_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("show_ref.show_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class FeedItem(Base):
    """A feed entry: a show logged or a media item that became ready."""

    __tablename__ = "feed_item"
    __table_args__ = (
        UniqueConstraint("kind", "show_id", "media_id", name="uq_feed_item_kind_show_media"),
        Index("ix_feed_item_owner_created", "owner_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # show | media
    show_id: Mapped[int] = mapped_column(Integer, index=True)
    media_id: Mapped[int] = mapped_column(Integer, default=0)  # 0 for show items
    media_kind: Mapped[str | None] = mapped_column(String(8), nullable=True)
    owner_id: Mapped[int] = mapped_column(Integer)
    thumbnail_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Comment(Base):
    """A comment on a show (photo_id null) or on one of its photos."""

    __tablename__ = "comment"
    __table_args__ = (Index("ix_comment_show_photo", "show_id", "photo_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int] = mapped_column(Integer, index=True)
    photo_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Friendship(Base):
    """A friend request or friendship; each unordered pair is stored once."""

    __tablename__ = "friendship"
    __table_args__ = (
        UniqueConstraint("user_low", "user_high", name="uq_friendship_pair"),
        CheckConstraint("user_id <> friend_id", name="not_self"),
        CheckConstraint("status IN ('pending', 'accepted')", name="status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)  # requester
    friend_id: Mapped[int] = mapped_column(Integer, index=True)  # recipient
    user_low: Mapped[int] = mapped_column(Integer)
    user_high: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class FriendPair(Base):
    """The version history head of a pair: bumped by every accept and removal, kept after the row goes.

    Friendship rows are deleted on removal; this row stays, so the pair's events carry versions that only
    grow (befriend, unfriend, befriend again: 1, 2, 3) and shows' copy can tell which event is newer.
    """

    __tablename__ = "friend_pair"
    user_low: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user_high: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ChatMessage(Base):
    """A message in a concert's live chat."""

    __tablename__ = "chat_message"
    __table_args__ = (Index("ix_chat_message_concert_id_id", "concert_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    concert_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    username: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchSetting(Base):
    """What a user lets others find them by; email search matches only those who opted in (default off)."""

    __tablename__ = "search_setting"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    findable_by_email: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- together (issue 16)


class Notification(Base):
    """An in-app notification; `dedupe_key` makes a redelivered fact a no-op; `emailed_at` = in a digest."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("user_id", "dedupe_key", name="uq_notification_user_key"),
        Index("ix_notification_user_id_id", "user_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)  # the recipient
    type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    show_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concert_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    media_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(String(500), default="")
    dedupe_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)
    emailed_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)


class NotificationPref(Base):
    """Whether one type of notification goes into a person's email digest (a missing row = the default)."""

    __tablename__ = "notification_pref"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)


class DigestState(Base):
    """When a person's last digest mail went out (at most one per SOCIAL_DIGEST_INTERVAL_S)."""

    __tablename__ = "notification_digest"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Block(Base):
    """`blocker_id` blocked `blocked_id`: no messages, friend requests or mentions from them."""

    __tablename__ = "user_block"
    blocker_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    blocked_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DirectMessage(Base):
    """A direct message between two people (the pair is stored ordered for the conversation index)."""

    __tablename__ = "direct_message"
    __table_args__ = (Index("ix_direct_message_pair_id", "user_low", "user_high", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[int] = mapped_column(Integer)
    recipient_id: Mapped[int] = mapped_column(Integer, index=True)
    user_low: Mapped[int] = mapped_column(Integer)
    user_high: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CheckinRef(Base):
    """Copy of a live check-in (from shows' `checkin.created`/`checkin.ended`): who is at which concert."""

    __tablename__ = "checkin_ref"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    concert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, index=True)
    show_id: Mapped[int] = mapped_column(Integer)
    checked_in_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShareLink(Base):
    """A public link to one show, made by its owner; only the token's SHA-256 is stored."""

    __tablename__ = "share_link"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(8))  # lets the owner tell their links apart
    show_id: Mapped[int] = mapped_column(Integer, index=True)
    owner_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # the owner's chosen photos (ids in media, in page order); media re-checks them at every view
    photo_ids: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True), nullable=True)


class FriendLocation(Base):
    """Someone's shared position at a concert they are checked in to; deleted when it expires or they leave."""

    __tablename__ = "friend_location"
    __table_args__ = (Index("ix_friend_location_concert_expires", "concert_id", "expires_at"),)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    concert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    show_id: Mapped[int] = mapped_column(Integer)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    precision: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class PresenceSetting(Base):
    """"Appear offline": the person is left out of chat presence and active users."""

    __tablename__ = "presence_setting"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    appear_offline: Mapped[bool] = mapped_column(Boolean, default=False)


class ProfileSetting(Base):
    """Whether a person's profile (public shows, counts, top artists) is public at /u/{username}; off by default."""

    __tablename__ = "profile_setting"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_profile: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushSubscription(Base):
    """A browser's Web Push subscription (endpoint + its keys), for one person's notifications."""

    __tablename__ = "push_subscription"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
