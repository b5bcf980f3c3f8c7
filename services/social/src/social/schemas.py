"""Pydantic request and response models of the social API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from shared.params import MAX_ID

COMMENT_MAX = 2000
CHAT_MAX = 1000


def _clean_text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return text


class UserRef(BaseModel):
    """A user as shown to others."""

    id: int
    username: str


# ---------------------------------------------------------------- comments


class CommentCreate(BaseModel):
    """A new comment on a show (`show_id`) or on a photo (`photo_id`)."""

    model_config = ConfigDict(extra="ignore")
    text: str = Field(description="1–2000 characters after trimming; stored and returned as plain text")
    show_id: StrictInt | None = Field(default=None, gt=0, le=MAX_ID)
    photo_id: StrictInt | None = Field(default=None, gt=0, le=MAX_ID)

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, v: object) -> str:
        return _clean_text(v, COMMENT_MAX)

    @field_validator("show_id", "photo_id", mode="before")
    @classmethod
    def _numeric_id(cls, v: object) -> object:
        return _coerce_id(v)

    @model_validator(mode="after")
    def _target(self) -> CommentCreate:
        if self.show_id is None and self.photo_id is None:
            raise ValueError("show_id or photo_id is required")
        return self


class CommentUpdate(BaseModel):
    """New text of a comment."""

    model_config = ConfigDict(extra="ignore")
    text: str

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, v: object) -> str:
        return _clean_text(v, COMMENT_MAX)


class Mention(BaseModel):
    """A `@username` in a comment that names a known user."""

    username: str
    user_id: int


class CommentRead(BaseModel):
    """A comment."""

    id: int
    show_id: int
    photo_id: int | None
    user: UserRef | None
    text: str
    created_at: str
    updated_at: str | None
    mentions: list[Mention]


class CommentList(BaseModel):
    """A page of comments, oldest first."""

    comments: list[CommentRead]
    total: int


class RecentComment(BaseModel):
    """One of the caller's recent comments (dashboard)."""

    id: int
    show_id: int
    photo_id: int | None
    text: str
    content: str = Field(description="Same as `text` (the earlier key)")
    created_at: str
    show_name: str


class RecentCommentList(BaseModel):
    """The caller's recent comments, newest first."""

    comments: list[RecentComment]
    total: int


# ---------------------------------------------------------------- friends

FriendshipStatusValue = Literal["none", "pending_outgoing", "pending_incoming", "accepted"]


def _coerce_id(v: object) -> object:
    # ids arrive as numbers or numeric strings; bools and floats are refused (no "1" == True tricks)
    if isinstance(v, bool):
        raise ValueError("must be an integer id")
    if isinstance(v, str):
        s = v.strip()
        if not s.isdigit():
            raise ValueError("must be an integer id")
        return int(s)
    return v


class FriendRequestCreate(BaseModel):
    """Ask someone to be friends, by `friend_id` or `username`."""

    model_config = ConfigDict(extra="ignore")
    friend_id: StrictInt | None = Field(default=None, gt=0, le=MAX_ID)
    username: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("friend_id", mode="before")
    @classmethod
    def _fid(cls, v: object) -> object:
        return _coerce_id(v)

    @model_validator(mode="after")
    def _one(self) -> FriendRequestCreate:
        if self.friend_id is None and not (self.username or "").strip():
            raise ValueError("friend_id or username is required")
        return self


class UserSearchResult(BaseModel):
    """A user found by search, with the caller's relation to them."""

    id: int
    username: str
    friendship_status: FriendshipStatusValue


class SearchSettings(BaseModel):
    """How others may find you: by username prefix always; by your exact email only if you opt in."""

    findable_by_email: StrictBool


class UserSearchList(BaseModel):
    """Search results (at most 20)."""

    users: list[UserSearchResult]
    total: int


class FriendshipRead(BaseModel):
    """A friend request or friendship; `friend` is the other party."""

    id: int
    user_id: int
    friend_id: int
    status: Literal["pending", "accepted"]
    created_at: str
    friend: UserRef


class FriendList(BaseModel):
    """Friendships of the caller."""

    friends: list[FriendshipRead]
    total: int


class MessageResponse(BaseModel):
    """A human-readable confirmation."""

    message: str


# ---------------------------------------------------------------- chat


class ChatMessageCreate(BaseModel):
    """A chat message (`message`, or `text` as in the seed document)."""

    model_config = ConfigDict(extra="ignore")
    message: str | None = Field(default=None, description="1–1000 characters after trimming")
    text: str | None = Field(default=None, description="Alias of `message`")

    @model_validator(mode="after")
    def _either(self) -> ChatMessageCreate:
        raw = self.message if self.message is not None else self.text
        if raw is None:
            raise ValueError("message is required")
        self.message = _clean_text(raw, CHAT_MAX)
        return self


class ChatMessageRead(BaseModel):
    """A chat message of a concert."""

    id: int
    concert_id: int
    user: UserRef
    message: str
    created_at: str


class ChatMessagePage(BaseModel):
    """Messages oldest first within the page; `has_more` when older ones exist."""

    messages: list[ChatMessageRead]
    has_more: bool


class ActiveUser(BaseModel):
    """Someone connected to the concert's chat now."""

    user_id: int
    username: str
    since: str


class ActiveUserList(BaseModel):
    """People connected to the concert's chat now."""

    users: list[ActiveUser]
    total: int


# ---------------------------------------------------------------- feed


class FeedMedia(BaseModel):
    """The media part of a feed item."""

    id: int
    kind: str
    thumbnail_url: str | None


class FeedItemRead(BaseModel):
    """A show logged or a media item added by a friend."""

    type: Literal["show", "media"]
    created_at: str
    user: UserRef
    show_id: int
    show_name: str
    date: str | None = None
    media: FeedMedia | None = None


class FeedPage(BaseModel):
    """The caller's friends' activity, newest first."""

    items: list[FeedItemRead]
    total: int


# ---------------------------------------------------------------- internal


class UserCounts(BaseModel):
    """A user's totals (for shows' dashboard stats)."""

    comments: int
    friends: int


class FriendIds(BaseModel):
    """Ids of a user's accepted friends."""

    friend_ids: list[int]


# ---------------------------------------------------------------- notifications (issue 16)

DM_MAX = 2000


class NotificationRead(BaseModel):
    """One notification; `text` is plain text (never HTML)."""

    id: int
    type: str = Field(description="friend_request, friend_accepted, comment, mention, friend_checkin, "
                                  "friend_logged, media_ready, media_failed")
    actor: UserRef | None
    show_id: int | None
    concert_id: int | None
    media_id: int | None
    text: str
    created_at: str
    read_at: str | None


class NotificationList(BaseModel):
    """A page of notifications, the total of the filter and the unread count."""

    notifications: list[NotificationRead]
    total: int
    unread: int


class NotificationsRead(BaseModel):
    """Which notifications to mark read: `ids`, or `all: true`."""

    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(gt=0, le=MAX_ID)]] | None = Field(default=None, max_length=500)
    all: StrictBool = False


class MarkedRead(BaseModel):
    """How many changed and how many remain unread."""

    marked: int
    unread: int


class NotificationPreferences(BaseModel):
    """Per-type choice of the email digest (`true` = include)."""

    email: dict[str, StrictBool]


class MessageCreate(BaseModel):
    """A direct message (1–2000 characters after trimming)."""

    model_config = ConfigDict(extra="ignore")
    text: str

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, v: object) -> str:
        return _clean_text(v, DM_MAX)


class DirectMessageRead(BaseModel):
    """One direct message."""

    id: int
    sender: UserRef
    recipient: UserRef
    text: str
    created_at: str
    read_at: str | None


class ConversationRead(BaseModel):
    """A conversation: the other person, the last message, unread messages to you, whether you may write."""

    user: UserRef
    last_message: DirectMessageRead
    unread: int
    can_send: bool


class ConversationList(BaseModel):
    """Your conversations, most recent first."""

    conversations: list[ConversationRead]
    total: int


class MessagePage(BaseModel):
    """Messages of a conversation, oldest first within the page; `has_more` = older ones exist."""

    messages: list[DirectMessageRead]
    has_more: bool
    can_send: bool


class MarkConversationRead(BaseModel):
    """Mark a conversation read up to a message id (all when omitted)."""

    model_config = ConfigDict(extra="forbid")
    up_to: int | None = Field(default=None, gt=0, le=MAX_ID)


class BlockState(BaseModel):
    """Whether you block that person."""

    user_id: int
    blocked: bool


class BlockList(BaseModel):
    """People you block."""

    users: list[UserRef]
    total: int


# ---------------------------------------------------------------- share links


SharedPhotoIds = list[Annotated[StrictInt, Field(gt=0, le=MAX_ID)]]


class ShareLinkCreate(BaseModel):
    """A new share link; without `expires_in_days` it lasts until revoked; `photo_ids`: up to 12 of your ready
    photos of the show, in page order (the first is the preview image)."""

    model_config = ConfigDict(extra="forbid")
    expires_in_days: StrictInt | None = Field(default=None, ge=1, le=365)
    photo_ids: SharedPhotoIds | None = Field(default=None, max_length=12)


class ShareLinkUpdate(BaseModel):
    """The photos on a link (replaces them; `[]` takes them all off)."""

    model_config = ConfigDict(extra="forbid")
    photo_ids: SharedPhotoIds = Field(max_length=12)


class ShareLinkRead(BaseModel):
    """A share link as its owner sees it in the list (the token itself is shown only once)."""

    id: int
    show_id: int
    token_prefix: str
    created_at: str
    expires_at: str | None
    photo_ids: list[int] = []


class ShareLinkCreated(ShareLinkRead):
    """A new share link: keep `token` (needed to revoke it); `url` is the public page."""

    token: str
    url: str


class ShareLinkList(BaseModel):
    """A show's live share links."""

    links: list[ShareLinkRead]
    total: int


class PublicSetlistLine(BaseModel):
    """A song of the shared show's setlist."""

    position: int
    title: str


class PublicShowFacts(BaseModel):
    """What a share link shows of a show."""

    id: int
    name: str
    artist_name: str
    venue_name: str
    date: str | None
    setlist: list[PublicSetlistLine]


class PublicOwner(BaseModel):
    """Who shared it."""

    username: str


class PublicPhoto(BaseModel):
    """A photo the owner chose for the link; its image URLs work only through this link's token."""

    id: int
    url: str  # the large thumbnail (long edge ≤ 2048)
    thumbnail_url: str  # the medium one (≤ 1024), also the page's og:image
    width: int | None
    height: int | None


class PublicShow(BaseModel):
    """A shared show as anyone with the link sees it."""

    show: PublicShowFacts
    owner: PublicOwner
    expires_at: str | None
    photos: list[PublicPhoto] = []


# ---------------------------------------------------------------- Web Push


class PushKey(BaseModel):
    """The VAPID public key (base64url) the browser subscribes with (`applicationServerKey`)."""

    public_key: str


class PushKeys(BaseModel):
    """The subscription's keys, as the browser's PushSubscription.toJSON() gives them."""

    p256dh: str = Field(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9_-]+=*$")
    auth: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+=*$")


class PushSubscriptionCreate(BaseModel):
    """A browser's push subscription (extra fields such as `expirationTime` are ignored)."""

    model_config = ConfigDict(extra="ignore")
    endpoint: str = Field(min_length=10, max_length=1000)
    keys: PushKeys


class PushSubscriptionDelete(BaseModel):
    """Which subscription to forget."""

    endpoint: str = Field(min_length=1, max_length=1000)


class PushSubscriptionRead(BaseModel):
    """A stored subscription."""

    endpoint: str


# ---------------------------------------------------------------- public profiles


class ProfileSettings(BaseModel):
    """Whether your profile is public at /u/{username} (off by default)."""

    model_config = ConfigDict(extra="forbid")
    public_profile: StrictBool


class NamedRef(BaseModel):
    """An artist or a venue."""

    id: int
    name: str


class ProfileShow(BaseModel):
    """One public show on a profile."""

    id: int
    date: str
    artist: NamedRef
    venue: NamedRef


class ProfileCounts(BaseModel):
    """Counts over the public shows only."""

    shows: int
    artists: int
    venues: int


class ProfileTopArtist(BaseModel):
    """An artist seen most often, among the public shows."""

    artist: NamedRef
    shows: int


class PublicProfile(BaseModel):
    """A person's opt-in public profile: only their public shows (newest 100), counts and top artists."""

    user: UserRef
    shows: list[ProfileShow]
    counts: ProfileCounts
    top_artists: list[ProfileTopArtist]


# ---------------------------------------------------------------- friends' positions


class LocationUpdate(BaseModel):
    """Your position at the concert; `approximate` (the default) is rounded to about 100 m."""

    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float = Field(default=50.0, ge=0, le=10_000, allow_inf_nan=False)
    precision: Literal["exact", "approximate"] = "approximate"
    # the sharer's offset from UTC (the phone at the venue knows it): turns the show's local start into UTC
    utc_offset_minutes: int | None = Field(default=None, ge=-720, le=840)


class FriendLocationRead(BaseModel):
    """A friend's position at the concert."""

    user: UserRef
    latitude: float
    longitude: float
    accuracy_m: float
    updated_at: str
    expires_at: str


class LocationRead(FriendLocationRead):
    """Your shared position as your friends see it."""

    precision: Literal["exact", "approximate"]


class FriendLocationList(BaseModel):
    """Positions of your friends checked in to the same concert."""

    locations: list[FriendLocationRead]


class PresenceSettings(BaseModel):
    """Appear offline: left out of chat presence and active users."""

    model_config = ConfigDict(extra="forbid")
    appear_offline: StrictBool
