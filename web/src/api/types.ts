// Hand-written from docs/api-contract.md (the public API through the gateway).
// Ids are numbers today but may become opaque strings: treat them as `Id`.

export type Id = number | string;

export interface UserRef {
  id: Id;
  username: string;
}

export interface Me {
  id: Id;
  username: string;
  email: string;
  email_verified: boolean;
  mfa_enabled: boolean;
  mfa_method: 'totp' | 'email' | 'sms' | null;
  created_at: string;
}

export interface FieldErrorDetail {
  field: string | (string | number)[] | null;
  message: string;
}

export interface ErrorBody {
  error: string;
  code?: string;
  details?: FieldErrorDetail[];
}

export type MfaMethod = 'totp' | 'email';

export interface RegisterRequest {
  username: string;
  email: string;
  password: string;
  mfa_method?: MfaMethod;
}

export interface RegisterResponse {
  user: UserRef & { email?: string };
  message: string;
  totp_uri?: string;
  totp_secret?: string;
}

export interface LoginRequest {
  login: string;
  password: string;
}

export interface SessionResponse {
  user: Me | (UserRef & Partial<Me>);
  access_token: string;
  refresh_token: string;
  /** Seconds until the access token expires (the client refreshes before). */
  expires_in?: number;
  session_id?: string;
  mfa_required: false;
}

/** One signed-in device (GET /api/auth/sessions). */
export interface SessionInfo {
  id: string;
  current: boolean;
  device: string;
  user_agent: string;
  ip: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
}

export interface SessionList {
  sessions: SessionInfo[];
  total: number;
}

export interface MfaRequiredResponse {
  mfa_required: true;
  mfa_token: string;
  methods: string[];
  message: string;
}

export type LoginResponse = SessionResponse | MfaRequiredResponse;

export interface MessageResponse {
  message: string;
}

export interface MfaSetupResponse {
  message?: string;
  method?: string;
  totp_uri?: string;
  totp_secret?: string;
  recovery_codes?: string[];
}

export interface MfaEnableResponse {
  message?: string;
  recovery_codes?: string[];
  codes?: string[];
}

export type Visibility = 'private' | 'friends' | 'public';

export interface Artist {
  id: Id;
  name: string;
  mbid?: string | null;
  image_url?: string | null;
}

export interface Venue {
  id: Id;
  name: string;
  location?: string | null;
  city?: string | null;
  state?: string | null;
  country?: string | null;
  latitude?: number | null;
  longitude?: number | null;
}

export interface SetlistSong {
  id: Id;
  show_id?: Id;
  order: number;
  title: string;
  artist_id?: Id | null;
  set_number?: number;
  set_name?: string;
  encore?: number;
  is_tape?: boolean;
  recording_mbid?: string | null;
  source?: 'manual' | 'setlistfm' | 'musicbrainz' | string;
  notes?: string | null;
  is_cover?: boolean;
  original_artist?: string | null;
  duration?: string | null;
  songwriter?: string | null;
  with_artist?: string | null;
}

export interface SetlistSongInput {
  title: string;
  artist_id?: Id;
  order?: number;
  notes?: string;
  is_cover?: boolean;
  original_artist?: string;
  duration?: string;
  songwriter?: string;
  with_artist?: string;
}

export type MediaKind = 'photo' | 'audio' | 'video';
export type MediaStatus = 'processing' | 'ready' | 'failed';

export interface MediaUrls {
  thumbnail_small?: string | null;
  thumbnail_medium?: string | null;
  thumbnail_large?: string | null;
  poster?: string | null;
  rendition_720p?: string | null;
  rendition_1080p?: string | null;
  waveform?: string | null;
  /** The HLS master playlist, once the video's adaptive ladder is ready. */
  hls?: string | null;
  /** WebVTT chapters (one per song) of a long video, when its songs are known. */
  chapters?: string | null;
}

/** How a library item reached its show (null: uploaded to the show directly). */
export type FiledBy = 'time' | 'gps' | 'checkin' | 'user';

export interface FilingSuggestion {
  show_id: Id;
  score: number;
  reason: string;
}

export interface SongSuggestion {
  song_id: Id;
  score: number;
  start_s?: number | null;
  end_s?: number | null;
}

export interface MediaRecord {
  id: Id;
  show_id: Id;
  user_id: Id;
  kind: MediaKind;
  status: MediaStatus;
  error?: string | null;
  progress?: number | null;
  original_filename?: string | null;
  content_type?: string | null;
  file_size?: number | null;
  width?: number | null;
  height?: number | null;
  duration?: number | null;
  taken_at?: string | null;
  placeholder?: string | null;
  caption?: string | null;
  title?: string | null;
  description?: string | null;
  url?: string | null;
  thumbnail_url?: string | null;
  urls?: MediaUrls | null;
  /** Videos: the HLS ladder's state and progress per rendition. */
  hls?: { status: 'working' | 'ready' | 'failed' | null; progress: Record<string, number> } | null;
  comment_count?: number;
  created_at: string;
  show_name?: string;
  /** Library uploads: how the item was filed to its show (null when uploaded to the show). */
  filed_by?: FiledBy | null;
  /** Videos and audio: the setlist songs the owner confirmed, and the ones the timing suggests. */
  song_ids?: Id[] | null;
  song_suggestions?: SongSuggestion[] | null;
}

/** An unfiled library item with the shows it may belong to. */
export interface UnfiledItem extends MediaRecord {
  suggestions: FilingSuggestion[];
}

/** A concert album or a song's clips: each item with who took it. */
export interface AttributedMedia extends MediaRecord {
  user: UserRef;
}

export interface Page<T> {
  items: T[];
  total: number;
}

export interface SetlistClipCounts {
  songs: { song_id: Id; clips: number }[];
}

export interface Comment {
  id: Id;
  show_id?: Id | null;
  photo_id?: Id | null;
  user: UserRef;
  text: string;
  created_at: string;
  updated_at?: string | null;
  show_name?: string;
}

export interface Show {
  id: Id;
  user_id: Id;
  owner?: UserRef;
  is_owner?: boolean;
  concert_id?: Id;
  artist?: Artist | null;
  venue?: Venue | null;
  artist_name: string;
  venue_name: string;
  venue_location?: string | null;
  date: string;
  time?: string | null;
  notes?: string | null;
  rating?: number | null;
  visibility: Visibility;
  visible_to?: Id[] | null;
  created_at?: string;
  updated_at?: string;
  photo_count?: number;
  audio_count?: number;
  video_count?: number;
  comment_count?: number;
  song_count?: number;
  attendee_count?: number;
  lineup?: LineupEntry[];
  festival?: Festival | null;
  ticket_price?: number | null;
  currency?: string | null;
  seat?: string | null;
}

export type ActRole = 'headliner' | 'support' | 'guest';

export interface LineupEntry {
  artist: Artist & { disambiguation?: string };
  role: ActRole;
  position: number;
}

export interface Festival {
  name: string;
  day?: string | null;
  stage?: string | null;
}

export interface ActInput {
  name: string;
  mbid?: string;
  role: ActRole;
}

export interface JobAccepted {
  job_id: Id;
  status: JobStatus;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface Job {
  job_id: Id;
  kind: string;
  status: JobStatus;
  progress: number;
  result?: Record<string, unknown> | null;
  error?: string | null;
  created_at?: string;
  finished_at?: string | null;
}

export interface SourceState {
  configured: boolean;
  reason?: string | null;
}

export interface CatalogSources {
  sources: Record<'setlistfm' | 'musicbrainz', SourceState>;
  map: { tile_url: string; attribution: string };
}

export interface ArtistDetail extends Artist {
  disambiguation?: string;
  sort_name?: string | null;
  description?: string | null;
  aliases?: string[];
  catalog_fetched_at?: string | null;
}

export interface SongHeard {
  title: string;
  song_key: string;
  artist: { id: Id; name: string };
  times_heard: number;
  first_heard: string;
  last_heard: string;
  show_ids: Id[];
}

export interface SongsHeard {
  songs: SongHeard[];
  total: number;
}

export interface ArtistHistory {
  artist: ArtistDetail;
  shows: { show_id: Id; date: string; role: string; venue: { id: Id; name: string; city: string }; festival?: string | null }[];
  first_seen: string | null;
  last_seen: string | null;
  songs_heard: number;
  songs_known: number | null;
  coverage: number | null;
  heard: { title: string; times_heard: number }[];
  not_heard: string[];
}

export interface YearInReview {
  year: number;
  shows: number;
  artists: number;
  new_artists: { id: Id; name: string; first_seen: string }[];
  venues: number;
  cities: string[];
  songs_heard: number;
  unique_songs: number;
  most_seen_artist: { id: Id; name: string; shows: number } | null;
  top_artists: { id: Id; name: string; shows: number }[];
  longest_trip: { show_id: Id; venue_id: Id; venue: string; city: string; km: number } | null;
  home: { city: string | null; latitude: number | null; longitude: number | null } | null;
  spending: { currency: string | null; total: number; shows: number }[];
  photos: number;
  videos: number;
  months: { month: number; shows: number }[];
}

export interface MapVenue {
  venue_id: Id;
  name: string;
  city: string;
  country: string;
  latitude: number;
  longitude: number;
  show_count: number;
  last_seen: string;
}

export interface VenueMap {
  venues: MapVenue[];
  without_coordinates: number;
}

export interface HomePlace {
  city: string | null;
  latitude: number | null;
  longitude: number | null;
}

export interface ShowDetail extends Show {
  setlist?: SetlistSong[];
  photos?: MediaRecord[];
  audio?: MediaRecord[];
  videos?: MediaRecord[];
  comments?: Comment[];
}

export interface ShowInput {
  artist_name?: string;
  venue_name?: string;
  venue_location?: string;
  date?: string;
  time?: string | null;
  notes?: string | null;
  rating?: number | null;
  visibility?: Visibility;
  visible_to?: Id[];
  artists?: ActInput[];
  festival?: Festival | null;
  ticket_price?: number | null;
  currency?: string | null;
  seat?: string | null;
}

export interface ShowListQuery {
  user_id?: string;
  artist?: string;
  artist_id?: string;
  venue?: string;
  venue_id?: string;
  city?: string;
  year?: string;
  date_from?: string;
  date_to?: string;
  q?: string;
  filter?: 'upcoming' | 'past' | 'all' | '';
  sort?: 'date' | '-date' | '';
  limit?: number;
  offset?: number;
}

export interface CheckinResponse {
  message: string;
  checked_in_at?: string | null;
}

export interface ActiveUser {
  user_id: Id;
  username: string;
  checked_in_at?: string;
}

export interface ActiveUsersResponse {
  users: ActiveUser[];
  total: number;
}

export interface PhotosEnvelope {
  photos: MediaRecord[];
  total: number;
}

export interface RecordingsEnvelope {
  recordings: MediaRecord[];
  total: number;
}

export interface CommentsEnvelope {
  comments: Comment[];
  total: number;
}

export type FriendshipStatus = 'none' | 'pending' | 'pending_incoming' | 'pending_outgoing' | 'accepted' | 'friends' | 'self' | string | null;

export interface FriendSearchUser {
  id: Id;
  username: string;
  friendship_status?: FriendshipStatus;
}

export interface Friendship {
  id: Id;
  user_id: Id;
  friend_id: Id;
  status: string;
  created_at: string;
  friend?: UserRef;
  user?: UserRef;
  requester?: UserRef;
  addressee?: UserRef;
}

export interface ChatMessage {
  id: Id;
  concert_id?: Id;
  user: UserRef;
  message: string;
  created_at: string;
}

export interface ChatMessagesResponse {
  messages: ChatMessage[];
  has_more: boolean;
}

export interface DashboardStats {
  total_shows: number;
  total_artists: number;
  total_venues: number;
  total_photos: number;
  total_audio: number;
  total_videos: number;
  total_comments: number;
  total_friends: number;
  shows_per_year?: Record<string, number> | { year: number | string; count: number }[];
}

export interface TopArtist {
  artist_id: Id;
  artist_name: string;
  show_count: number;
  first_seen?: string;
  last_seen?: string;
  image_url?: string | null;
}

export interface TopVenue {
  venue_id: Id;
  venue_name: string;
  city?: string | null;
  state?: string | null;
  show_count: number;
  first_seen?: string;
  last_seen?: string;
}

/** One entry of the friends' feed; the shape is loose on purpose (built from events). */
export interface FeedItem {
  id?: Id;
  type?: string;
  kind?: string;
  created_at?: string;
  occurred_at?: string;
  user?: UserRef;
  owner?: UserRef;
  show?: Partial<Show> & { id: Id };
  show_id?: Id;
  show_name?: string;
  date?: string | null;
  media?: Partial<MediaRecord>;
  [key: string]: unknown;
}

// ---- issue 16: notifications, direct messages, share links, positions

export interface AppNotification {
  id: Id;
  type: string;
  actor: UserRef | null;
  show_id: Id | null;
  concert_id: Id | null;
  media_id: Id | null;
  text: string;
  created_at: string;
  read_at: string | null;
}

export interface NotificationList {
  notifications: AppNotification[];
  total: number;
  unread: number;
}

export interface DirectMessage {
  id: Id;
  sender: UserRef;
  recipient: UserRef;
  text: string;
  created_at: string;
  read_at: string | null;
}

export interface Conversation {
  user: UserRef;
  last_message: DirectMessage;
  unread: number;
  can_send: boolean;
}

export interface MessagePage {
  messages: DirectMessage[];
  has_more: boolean;
  can_send: boolean;
}

export interface ShareLink {
  id: Id;
  show_id: Id;
  token_prefix: string;
  created_at: string;
  expires_at: string | null;
  photo_ids?: Id[];
  token?: string;
  url?: string;
}

export interface FriendLocation {
  user: UserRef;
  latitude: number;
  longitude: number;
  accuracy_m: number;
  updated_at: string;
  expires_at: string;
}
