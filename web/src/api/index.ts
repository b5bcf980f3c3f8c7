// Typed functions over the client, one per operation the pages use.
import { client, type UploadOptions } from './client';
import { FetchHttpStack, UploadQueue, browserUrlStorage, pendingUploads, type PendingUpload, type QueueOptions, type UploadTarget } from '../lib/uploads';
import type {
  ActiveUsersResponse,
  Artist,
  AttributedMedia,
  Page,
  SetlistClipCounts,
  UnfiledItem,
  Conversation,
  DirectMessage,
  FriendLocation,
  MessagePage,
  NotificationList,
  ShareLink,
  ArtistDetail,
  ArtistHistory,
  CatalogSources,
  HomePlace,
  Job,
  JobAccepted,
  SongsHeard,
  VenueMap,
  YearInReview,
  ChatMessagesResponse,
  CheckinResponse,
  Comment,
  CommentsEnvelope,
  DashboardStats,
  FeedItem,
  FriendSearchUser,
  Friendship,
  Id,
  LoginResponse,
  MediaKind,
  MediaRecord,
  Me,
  MessageResponse,
  MfaEnableResponse,
  MfaSetupResponse,
  PhotosEnvelope,
  RecordingsEnvelope,
  RegisterRequest,
  RegisterResponse,
  SessionList,
  SessionResponse,
  SetlistSong,
  SetlistSongInput,
  Show,
  ShowDetail,
  ShowInput,
  ShowListQuery,
  TopArtist,
  TopVenue,
  Venue,
} from './types';

export { ApiError, client } from './client';
export type * from './types';

const p = (id: Id) => ({ id: String(id) });

/** Lists may come as a bare array or inside an envelope; take the first array found. */
export function listFrom<T>(data: unknown, ...keys: string[]): T[] {
  if (Array.isArray(data)) return data as T[];
  if (data && typeof data === 'object') {
    const o = data as Record<string, unknown>;
    for (const k of [...keys, 'items', 'results', 'data']) if (Array.isArray(o[k])) return o[k] as T[];
  }
  return [];
}

export const auth = {
  register: (body: RegisterRequest) => client.call<RegisterResponse>('authRegister', { body }),
  login: (login: string, password: string) => client.call<LoginResponse>('authLogin', { body: { login, password } }),
  verifyMfa: (code: string, mfa_token?: string) => client.call<SessionResponse>('authVerifyMfa', { body: { code: code.replace(/\s+/g, ''), mfa_token } }),
  resendMfa: (mfa_token?: string) => client.call<MessageResponse>('authResendMfa', { body: { mfa_token } }),
  logout: () => client.call<MessageResponse>('authLogout', { body: {} }),
  me: () => client.call<Me>('authMe'),
  verifyEmail: (token: string) => client.call<MessageResponse>('authVerifyEmail', { body: { token } }),
  forgotPassword: (email: string) => client.call<MessageResponse>('authForgotPassword', { body: { email } }),
  resetPassword: (token: string, password: string) => client.call<MessageResponse>('authResetPassword', { body: { token, password } }),
  changePassword: (current_password: string, new_password: string) =>
    client.call<MessageResponse>('authChangePassword', { body: { current_password, new_password } }),
  mfaSetup: (method: 'totp' | 'email') => client.call<MfaSetupResponse>('authMfaSetup', { body: { method } }),
  mfaEnable: (code: string, method?: string) => client.call<MfaEnableResponse>('authMfaEnable', { body: { code: code.replace(/\s+/g, ''), method } }),
  mfaDisable: (body: { password?: string; code?: string }) => client.call<MessageResponse>('authMfaDisable', { body }),
  mfaRecoveryCodes: (body: { password?: string; code?: string }) => client.call<MfaEnableResponse>('authMfaRecoveryCodes', { body }),
  deleteMe: (password?: string) => client.call<void>('authDeleteMe', { body: password ? { password } : {} }),
  reauthenticate: (body: { password?: string; code?: string }) => client.call<{ message: string; reauth_until: string }>('authReauthenticate', { body }),
  changeEmail: (new_email: string) => client.call<MessageResponse>('authChangeEmail', { body: { new_email } }),
  sessions: () => client.call<SessionList>('authSessions'),
  revokeSession: (sid: string) => client.call<void>('authRevokeSession', { params: { sid } }),
  revokeAllSessions: (keep_current = false) => client.call<{ message: string; revoked: number }>('authRevokeAllSessions', { body: { keep_current } }),
  secureAccount: (token: string) => client.call<MessageResponse>('authSecureAccount', { body: { token } }),
};

export const shows = {
  async list(query: ShowListQuery): Promise<{ shows: Show[]; total: number }> {
    const res = await client.request<Show[]>('showsList', { query: { ...query } });
    const items = listFrom<Show>(res.data, 'shows');
    const header = res.headers.get('X-Total-Count');
    const total = header !== null && header !== '' && Number.isFinite(Number(header)) ? Number(header) : items.length;
    return { shows: items, total };
  },
  get: (id: Id) => client.call<ShowDetail>('showsGet', { params: p(id) }),
  create: (body: ShowInput) => client.call<Show>('showsCreate', { body }),
  update: (id: Id, body: ShowInput) => client.call<Show>('showsUpdate', { params: p(id), body }),
  remove: (id: Id) => client.call<void>('showsDelete', { params: p(id) }),
  setlist: async (id: Id) => listFrom<SetlistSong>(await client.call<unknown>('setlistList', { params: p(id) }), 'setlist', 'songs'),
  addSong: (id: Id, body: SetlistSongInput) => client.call<SetlistSong>('setlistAdd', { params: p(id), body }),
  updateSong: (id: Id, songId: Id, body: Partial<SetlistSongInput>) =>
    client.call<SetlistSong>('setlistUpdate', { params: { id: String(id), song_id: String(songId) }, body }),
  deleteSong: (id: Id, songId: Id) => client.call<void>('setlistDelete', { params: { id: String(id), song_id: String(songId) } }),
  checkin: (id: Id) => client.call<CheckinResponse>('showsCheckin', { params: p(id), body: {} }),
  checkout: (id: Id) => client.call<CheckinResponse>('showsCheckout', { params: p(id), body: {} }),
  activeUsers: (id: Id) => client.call<ActiveUsersResponse>('showsActiveUsers', { params: p(id) }),
  exportCsvUrl: () => client.url('showsExportCsv'),
  calendarUrl: () => client.url('showsCalendarIcs'),
  artists: async (q: string, signal?: AbortSignal) => listFrom<Artist>(await client.call<unknown>('artistsSearch', { query: { q, limit: 8 }, signal }), 'artists'),
  venues: async (q: string, signal?: AbortSignal) => listFrom<Venue>(await client.call<unknown>('venuesSearch', { query: { q, limit: 8 }, signal }), 'venues'),
};

const uploadOp = { photo: 'photosUpload', audio: 'audioUpload', video: 'videosUpload' } as const;
const getOp = { photo: 'photosGet', audio: 'audioGet', video: 'videosGet' } as const;
const deleteOp = { photo: 'photosDelete', audio: 'audioDelete', video: 'videosDelete' } as const;
const forShowOp = { photo: 'photosForShow', audio: 'audioForShow', video: 'videosForShow' } as const;

/** Whether others may find you by your exact email (off unless you opt in). */
export interface SearchSettings {
  findable_by_email: boolean;
}

/** Your storage: bytes of the originals you uploaded against your quota. */
export interface Usage {
  bytes_used: number;
  bytes_quota: number;
  items: number;
}

/** Whether your profile is public at /u/{username} (off by default). */
export interface ProfileSettings {
  public_profile: boolean;
}

export const me = {
  usage: () => client.call<Usage>('myUsage'),
  profileSettings: () => client.call<ProfileSettings>('profileSettings'),
  updateProfileSettings: (s: ProfileSettings) => client.call<ProfileSettings>('profileSettingsUpdate', { body: s }),
};

/** The queue of resumable (tus) uploads of a page: same-origin fetch with the CSRF header, URLs in localStorage. */
export function uploadQueue(opts: QueueOptions): UploadQueue {
  return new UploadQueue({
    endpoint: new URL(client.url('uploadsCreate'), window.location.href).toString(),
    urlStorage: browserUrlStorage(),
    httpStack: new FetchHttpStack(),
    headers: (method, url) => client.csrfHeaders(method, new URL(url, window.location.href).pathname),
    refresh: () => client.refresh(),
    later: (fn, ms) => void setTimeout(fn, ms),
  }, opts);
}

export const media = {
  /** Uploads to this show (or the library) that a reload interrupted (choose the same file again to resume). */
  pendingUploads: (target: UploadTarget): Promise<PendingUpload[]> => pendingUploads(browserUrlStorage(), target),
  /** Forget an interrupted upload here and let the server drop what it stored. */
  async forgetUpload(p: PendingUpload): Promise<void> {
    await browserUrlStorage().removeUpload(p.urlStorageKey);
    if (p.uploadUrl) {
      await fetch(p.uploadUrl, { method: 'DELETE', credentials: 'same-origin', headers: { 'Tus-Resumable': '1.0.0', ...client.csrfHeaders('DELETE', new URL(p.uploadUrl, window.location.href).pathname) } }).catch(() => undefined);
    }
  },
  upload(kind: MediaKind, showId: Id, file: File, extra: Record<string, string>, opts: UploadOptions = {}) {
    // The show goes in the URL: rights and quota are decided before the file is sent (fields stay before it).
    const form = new FormData();
    for (const [k, v] of Object.entries(extra)) if (v) form.append(k, v);
    form.append('file', file, file.name);
    return client.upload<MediaRecord>(uploadOp[kind], form, { ...opts, query: { ...opts.query, show_id: String(showId) } });
  },
  meta: (kind: MediaKind, id: Id) => client.call<MediaRecord>(getOp[kind], { params: p(id), query: { meta: 1 } }),
  remove: (kind: MediaKind, id: Id) => client.call<void>(deleteOp[kind], { params: p(id) }),
  async forShow(kind: MediaKind, showId: Id): Promise<MediaRecord[]> {
    const data = await client.call<PhotosEnvelope | RecordingsEnvelope>(forShowOp[kind], { params: { show_id: String(showId) }, query: { limit: 100 } });
    return listFrom<MediaRecord>(data, 'photos', 'recordings', 'videos', 'audio');
  },
  updatePhoto: (id: Id, caption: string) => client.call<MediaRecord>('photosUpdate', { params: p(id), body: { caption } }),
  /** Confirm which setlist songs a video or recording holds. */
  setSongs: (kind: 'video' | 'audio', id: Id, song_ids: Id[]) =>
    client.call<MediaRecord>(kind === 'video' ? 'videosUpdate' : 'audioUpdate', { params: p(id), body: { song_ids } }),
  /** Library items no show claimed for sure, each with the shows it may belong to. */
  unfiled: (limit = 50, offset = 0) => client.call<Page<UnfiledItem>>('mediaUnfiled', { query: { limit, offset } }),
  file: (id: Id, showId: Id) => client.call<MediaRecord>('mediaFile', { params: p(id), body: { show_id: showId } }),
  /** Every photo and video of one concert the caller may see, in capture-time order. */
  album: (concertId: Id, limit = 30, offset = 0) =>
    client.call<Page<AttributedMedia>>('concertAlbum', { params: { concert_id: String(concertId) }, query: { limit, offset } }),
  clipCounts: (showId: Id) => client.call<SetlistClipCounts>('setlistClips', { params: p(showId) }),
  songClips: (showId: Id, songId: Id) =>
    client.call<Page<AttributedMedia>>('setlistSongClips', { params: { id: String(showId), song_id: String(songId) } }),
};

export const comments = {
  forShow: async (showId: Id) =>
    listFrom<Comment>(await client.call<CommentsEnvelope>('commentsForShow', { params: { show_id: String(showId) }, query: { limit: 100 } }), 'comments'),
  create: (showId: Id, text: string) => client.call<Comment>('commentsCreate', { body: { show_id: showId, text } }),
  update: (id: Id, text: string) => client.call<Comment>('commentsUpdate', { params: p(id), body: { text } }),
  remove: (id: Id) => client.call<void>('commentsDelete', { params: p(id) }),
};

export const friends = {
  search: async (q: string) => listFrom<FriendSearchUser>(await client.call<unknown>('friendsSearch', { query: { q } }), 'users'),
  request: (target: { friend_id?: Id; username?: string }) => client.call<Friendship>('friendsRequest', { body: target }),
  accept: (id: Id) => client.call<Friendship>('friendsAccept', { params: p(id), body: {} }),
  reject: (id: Id) => client.call<Friendship>('friendsReject', { params: p(id), body: {} }),
  list: async () => listFrom<Friendship>(await client.call<unknown>('friendsList', { query: { limit: 100 } }), 'friends'),
  requests: async (direction: 'incoming' | 'outgoing') =>
    listFrom<Friendship>(await client.call<unknown>('friendsRequests', { query: { direction, limit: 100 } }), 'requests', 'friends'),
  remove: (id: Id) => client.call<void>('friendsRemove', { params: p(id) }),
  settings: () => client.call<SearchSettings>('friendsSettings'),
  updateSettings: (s: SearchSettings) => client.call<SearchSettings>('friendsSettingsUpdate', { body: s }),
  feed: async (limit = 20, offset = 0) => {
    const res = await client.request<unknown>('feed', { query: { limit, offset } });
    const items = listFrom<FeedItem>(res.data, 'items', 'feed', 'events', 'activities', 'shows');
    const o = res.data as Record<string, unknown> | null;
    const header = res.headers.get('X-Total-Count');
    const total = o && typeof o === 'object' && typeof o.total === 'number' ? o.total : header ? Number(header) : items.length;
    return { items, total };
  },
};

export const chat = {
  messages: (showId: Id, before?: Id) => client.call<ChatMessagesResponse>('chatMessages', { params: p(showId), query: { before, limit: 50 } }),
  send: (showId: Id, message: string) => client.call<unknown>('chatSend', { params: p(showId), body: { message } }),
  activeUsers: (showId: Id) => client.call<ActiveUsersResponse>('chatActiveUsers', { params: p(showId) }),
  socketPath: (showId: Id) => client.url('chatSocket', { params: p(showId) }),
};

export const notifications = {
  list: (query: { unread?: boolean; limit?: number; offset?: number } = {}) => client.call<NotificationList>('notificationsList', { query }),
  markRead: (ids: Id[] | 'all') => client.call<{ marked: number; unread: number }>('notificationsRead', { body: ids === 'all' ? { all: true } : { ids } }),
  preferences: () => client.call<{ email: Record<string, boolean> }>('notificationsPrefs'),
  updatePreferences: (email: Record<string, boolean>) => client.call<{ email: Record<string, boolean> }>('notificationsPrefsUpdate', { body: { email } }),
  socketPath: () => client.url('notificationsSocket'),
  pushKey: () => client.call<{ public_key: string }>('pushKey'),
  pushSubscribe: (subscription: PushSubscriptionJSON) => client.call<{ endpoint: string }>('pushSubscribe', { body: subscription }),
  pushUnsubscribe: (endpoint: string) => client.call<void>('pushUnsubscribe', { body: { endpoint } }),
};

export const messages = {
  conversations: () => client.call<{ conversations: Conversation[]; total: number }>('messagesConversations'),
  thread: (userId: Id, before?: Id) => client.call<MessagePage>('messagesThread', { params: p(userId), query: { before, limit: 50 } }),
  send: (userId: Id, text: string) => client.call<DirectMessage>('messagesSend', { params: p(userId), body: { text } }),
  markRead: (userId: Id) => client.call<{ marked: number }>('messagesRead', { params: p(userId), body: {} }),
  block: (userId: Id) => client.call<{ user_id: Id; blocked: boolean }>('usersBlock', { params: p(userId), body: {} }),
  unblock: (userId: Id) => client.call<{ user_id: Id; blocked: boolean }>('usersUnblock', { params: p(userId) }),
};

export const sharing = {
  create: (showId: Id, expiresInDays?: number) =>
    client.call<ShareLink>('shareLinksCreate', { params: p(showId), body: expiresInDays ? { expires_in_days: expiresInDays } : {} }),
  list: (showId: Id) => client.call<{ links: ShareLink[]; total: number }>('shareLinksList', { params: p(showId) }),
  revoke: (token: string) => client.call<void>('shareLinksRevoke', { params: { token } }),
  /** The photos on the public page (≤ 12 of your ready photos of the show; `[]` none). */
  setPhotos: (token: string, photoIds: Id[]) =>
    client.call<ShareLink>('shareLinksUpdate', { params: { token }, body: { photo_ids: photoIds } }),
};

export const positions = {
  // the device's UTC offset turns the show's local start time into UTC (the position expires 6 h after it)
  share: (showId: Id, body: { latitude: number; longitude: number; accuracy_m: number; precision: 'exact' | 'approximate' }) =>
    client.call<FriendLocation>('locationShare', { params: p(showId), body: { ...body, utc_offset_minutes: -new Date().getTimezoneOffset() } }),
  stop: (showId: Id) => client.call<void>('locationStop', { params: p(showId) }),
  friends: (showId: Id) => client.call<{ locations: FriendLocation[] }>('friendsLocations', { params: p(showId) }),
};

export const dashboard = {
  stats: () => client.call<DashboardStats>('dashboardStats'),
  artists: async (limit = 5) => listFrom<TopArtist>(await client.call<unknown>('dashboardArtists', { query: { limit } }), 'artists'),
  venues: async (limit = 5) => listFrom<TopVenue>(await client.call<unknown>('dashboardVenues', { query: { limit } }), 'venues'),
  recentPhotos: async (limit = 8) => listFrom<MediaRecord>(await client.call<unknown>('dashboardPhotosRecent', { query: { limit } }), 'photos'),
  recentAudio: async (limit = 5) => listFrom<MediaRecord>(await client.call<unknown>('dashboardAudioRecent', { query: { limit } }), 'recordings', 'audio'),
  recentVideos: async (limit = 5) => listFrom<MediaRecord>(await client.call<unknown>('dashboardVideosRecent', { query: { limit } }), 'recordings', 'videos'),
};

export const catalog = {
  sources: () => client.call<CatalogSources>('catalogSources'),
  artist: (id: Id) => client.call<ArtistDetail>('artistGet', { params: p(id) }),
  lookupArtist: (id: Id, mbid?: string) => client.call<JobAccepted>('artistLookup', { params: p(id), body: mbid ? { mbid } : {} }),
  importSetlist: (showId: Id, body: { source: 'setlistfm' | 'musicbrainz'; external_id?: string; replace?: boolean; artist_id?: Id }) =>
    client.call<JobAccepted>('setlistImport', { params: p(showId), body }),
  job: (id: Id) => client.call<Job>('jobGet', { params: p(id) }),
  importHistory(file: File, format: string, dryRun: boolean) {
    const form = new FormData();
    form.append('format', format);
    form.append('dry_run', dryRun ? 'true' : 'false');
    form.append('file', file, file.name);
    return client.call<JobAccepted>('importsUpload', { body: form });
  },
  importAttended: (username: string, dryRun = false) => client.call<JobAccepted>('importsAttended', { body: { username, dry_run: dryRun } }),
};

export const stats = {
  songs: (query: { artist_id?: Id; limit?: number; offset?: number } = {}) =>
    client.call<SongsHeard>('statsSongs', { query: { artist_id: query.artist_id, limit: query.limit ?? 50, offset: query.offset ?? 0 } }),
  artist: (id: Id) => client.call<ArtistHistory>('statsArtist', { params: p(id) }),
  year: (year: number | string) => client.call<YearInReview>('statsYear', { params: { year: String(year) } }),
  map: () => client.call<VenueMap>('statsMap'),
  home: () => client.call<HomePlace>('statsHomeGet'),
  setHome: (body: { city: string; latitude: number; longitude: number }) => client.call<HomePlace>('statsHomePut', { body }),
};
