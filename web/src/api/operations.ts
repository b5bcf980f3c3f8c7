// Every HTTP operation the web app calls, in one table.
// scripts/check-openapi.mjs parses this file (one entry per line, as below) and checks each
// method + path against the gateway's merged OpenAPI, so keep the one-line format.
// `ws: true` marks WebSocket routes (OpenAPI does not list them; the check only warns).

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Operation {
  method: HttpMethod;
  path: string;
  /** No refresh-and-retry on 401 (the credentials themselves are what failed). */
  noRefresh?: boolean;
  ws?: boolean;
}

export const operations = {
  authRegister: { method: 'POST', path: '/api/auth/register', noRefresh: true },
  authLogin: { method: 'POST', path: '/api/auth/login', noRefresh: true },
  authVerifyMfa: { method: 'POST', path: '/api/auth/verify-mfa', noRefresh: true },
  authResendMfa: { method: 'POST', path: '/api/auth/resend-mfa', noRefresh: true },
  authLogout: { method: 'POST', path: '/api/auth/logout', noRefresh: true },
  authMe: { method: 'GET', path: '/api/auth/me' },
  authVerifyEmail: { method: 'POST', path: '/api/auth/verify-email', noRefresh: true },
  authForgotPassword: { method: 'POST', path: '/api/auth/forgot-password', noRefresh: true },
  authResetPassword: { method: 'POST', path: '/api/auth/reset-password', noRefresh: true },
  authRefresh: { method: 'POST', path: '/api/auth/refresh', noRefresh: true },
  authChangePassword: { method: 'POST', path: '/api/auth/change-password' },
  authMfaSetup: { method: 'POST', path: '/api/auth/mfa/setup' },
  authMfaEnable: { method: 'POST', path: '/api/auth/mfa/enable' },
  authMfaDisable: { method: 'POST', path: '/api/auth/mfa/disable' },
  authMfaRecoveryCodes: { method: 'POST', path: '/api/auth/mfa/recovery-codes' },
  authDeleteMe: { method: 'DELETE', path: '/api/auth/me' },
  authReauthenticate: { method: 'POST', path: '/api/auth/reauthenticate' },
  authChangeEmail: { method: 'POST', path: '/api/auth/change-email' },
  authSessions: { method: 'GET', path: '/api/auth/sessions' },
  authRevokeSession: { method: 'DELETE', path: '/api/auth/sessions/{sid}' },
  authRevokeAllSessions: { method: 'POST', path: '/api/auth/sessions/revoke-all' },
  authSecureAccount: { method: 'POST', path: '/api/auth/secure-account', noRefresh: true },

  showsList: { method: 'GET', path: '/api/shows' },
  showsGet: { method: 'GET', path: '/api/shows/{id}' },
  showsCreate: { method: 'POST', path: '/api/shows' },
  showsUpdate: { method: 'PUT', path: '/api/shows/{id}' },
  showsDelete: { method: 'DELETE', path: '/api/shows/{id}' },
  setlistList: { method: 'GET', path: '/api/shows/{id}/setlist' },
  setlistAdd: { method: 'POST', path: '/api/shows/{id}/setlist' },
  setlistUpdate: { method: 'PUT', path: '/api/shows/{id}/setlist/{song_id}' },
  setlistDelete: { method: 'DELETE', path: '/api/shows/{id}/setlist/{song_id}' },
  showsCheckin: { method: 'POST', path: '/api/shows/{id}/checkin' },
  showsCheckout: { method: 'POST', path: '/api/shows/{id}/checkout' },
  showsActiveUsers: { method: 'GET', path: '/api/shows/{id}/active-users' },
  showsExportCsv: { method: 'GET', path: '/api/shows/export.csv' },
  showsCalendarIcs: { method: 'GET', path: '/api/shows/calendar.ics' },
  artistsSearch: { method: 'GET', path: '/api/artists' },
  venuesSearch: { method: 'GET', path: '/api/venues' },
  artistGet: { method: 'GET', path: '/api/artists/{id}' },
  artistLookup: { method: 'POST', path: '/api/artists/{id}/lookup' },
  setlistImport: { method: 'POST', path: '/api/shows/{id}/setlist/import' },
  catalogSources: { method: 'GET', path: '/api/catalog/sources' },
  jobGet: { method: 'GET', path: '/api/jobs/{id}' },
  jobsList: { method: 'GET', path: '/api/jobs' },
  importsUpload: { method: 'POST', path: '/api/imports' },
  importsAttended: { method: 'POST', path: '/api/imports/setlistfm-attended' },
  statsSongs: { method: 'GET', path: '/api/stats/songs' },
  statsArtist: { method: 'GET', path: '/api/stats/artists/{id}' },
  statsYear: { method: 'GET', path: '/api/stats/years/{year}' },
  statsMap: { method: 'GET', path: '/api/stats/map' },
  statsHomeGet: { method: 'GET', path: '/api/stats/home' },
  statsHomePut: { method: 'PUT', path: '/api/stats/home' },

  photosUpload: { method: 'POST', path: '/api/photos' },
  photosGet: { method: 'GET', path: '/api/photos/{id}' },
  photosUpdate: { method: 'PUT', path: '/api/photos/{id}' },
  photosDelete: { method: 'DELETE', path: '/api/photos/{id}' },
  photosThumbnail: { method: 'GET', path: '/api/photos/{id}/thumbnail' },
  photosForShow: { method: 'GET', path: '/api/photos/show/{show_id}' },
  audioUpload: { method: 'POST', path: '/api/audio' },
  audioGet: { method: 'GET', path: '/api/audio/{id}' },
  audioDelete: { method: 'DELETE', path: '/api/audio/{id}' },
  audioForShow: { method: 'GET', path: '/api/audio/show/{show_id}' },
  videosUpload: { method: 'POST', path: '/api/videos' },
  videosGet: { method: 'GET', path: '/api/videos/{id}' },
  videosDelete: { method: 'DELETE', path: '/api/videos/{id}' },
  videosThumbnail: { method: 'GET', path: '/api/videos/{id}/thumbnail' },
  videosForShow: { method: 'GET', path: '/api/videos/show/{show_id}' },
  videosUpdate: { method: 'PUT', path: '/api/videos/{id}' },
  audioUpdate: { method: 'PUT', path: '/api/audio/{id}' },
  uploadsCreate: { method: 'POST', path: '/api/uploads' },
  mediaUnfiled: { method: 'GET', path: '/api/media/unfiled' },
  mediaFile: { method: 'POST', path: '/api/media/{id}/file' },
  concertAlbum: { method: 'GET', path: '/api/concerts/{concert_id}/album' },
  setlistClips: { method: 'GET', path: '/api/shows/{id}/setlist/clips' },
  setlistSongClips: { method: 'GET', path: '/api/shows/{id}/setlist/{song_id}/clips' },

  commentsCreate: { method: 'POST', path: '/api/comments' },
  commentsUpdate: { method: 'PUT', path: '/api/comments/{id}' },
  commentsDelete: { method: 'DELETE', path: '/api/comments/{id}' },
  commentsForShow: { method: 'GET', path: '/api/comments/show/{show_id}' },

  friendsSearch: { method: 'GET', path: '/api/friends/search' },
  friendsRequest: { method: 'POST', path: '/api/friends/request' },
  friendsAccept: { method: 'POST', path: '/api/friends/request/{id}/accept' },
  friendsReject: { method: 'POST', path: '/api/friends/request/{id}/reject' },
  friendsList: { method: 'GET', path: '/api/friends' },
  friendsRequests: { method: 'GET', path: '/api/friends/requests' },
  friendsRemove: { method: 'DELETE', path: '/api/friends/{id}' },
  friendsSettings: { method: 'GET', path: '/api/friends/settings' },
  friendsSettingsUpdate: { method: 'PUT', path: '/api/friends/settings' },
  myUsage: { method: 'GET', path: '/api/me/usage' },
  profileSettings: { method: 'GET', path: '/api/users/me/profile-settings' },
  profileSettingsUpdate: { method: 'PUT', path: '/api/users/me/profile-settings' },
  feed: { method: 'GET', path: '/api/feed' },

  chatMessages: { method: 'GET', path: '/api/chat/show/{id}/messages' },
  chatSend: { method: 'POST', path: '/api/chat/show/{id}/messages' },
  chatActiveUsers: { method: 'GET', path: '/api/chat/show/{id}/active-users' },
  chatSocket: { method: 'GET', path: '/api/chat/show/{id}/ws', ws: true },

  notificationsList: { method: 'GET', path: '/api/notifications' },
  notificationsRead: { method: 'POST', path: '/api/notifications/read' },
  notificationsPrefs: { method: 'GET', path: '/api/notifications/preferences' },
  notificationsPrefsUpdate: { method: 'PUT', path: '/api/notifications/preferences' },
  notificationsSocket: { method: 'GET', path: '/api/notifications/ws', ws: true },
  pushKey: { method: 'GET', path: '/api/notifications/push-key' },
  pushSubscribe: { method: 'POST', path: '/api/notifications/push-subscriptions' },
  pushUnsubscribe: { method: 'DELETE', path: '/api/notifications/push-subscriptions' },
  messagesConversations: { method: 'GET', path: '/api/messages' },
  messagesThread: { method: 'GET', path: '/api/messages/{id}' },
  messagesSend: { method: 'POST', path: '/api/messages/{id}' },
  messagesRead: { method: 'POST', path: '/api/messages/{id}/read' },
  usersBlock: { method: 'POST', path: '/api/users/{id}/block' },
  usersUnblock: { method: 'DELETE', path: '/api/users/{id}/block' },
  shareLinksCreate: { method: 'POST', path: '/api/shows/{id}/share-links' },
  shareLinksList: { method: 'GET', path: '/api/shows/{id}/share-links' },
  shareLinksRevoke: { method: 'DELETE', path: '/api/share-links/{token}' },
  shareLinksUpdate: { method: 'PUT', path: '/api/share-links/{token}' },
  locationShare: { method: 'PUT', path: '/api/shows/{id}/location' },
  locationStop: { method: 'DELETE', path: '/api/shows/{id}/location' },
  friendsLocations: { method: 'GET', path: '/api/shows/{id}/friends-locations' },

  dashboardStats: { method: 'GET', path: '/api/dashboard/stats' },
  dashboardArtists: { method: 'GET', path: '/api/dashboard/artists' },
  dashboardVenues: { method: 'GET', path: '/api/dashboard/venues' },
  dashboardPhotosRecent: { method: 'GET', path: '/api/dashboard/photos/recent' },
  dashboardAudioRecent: { method: 'GET', path: '/api/dashboard/audio/recent' },
  dashboardVideosRecent: { method: 'GET', path: '/api/dashboard/videos/recent' },
} as const satisfies Record<string, Operation>;

export type OperationId = keyof typeof operations;

/** Fill `{name}` placeholders of an operation's path, URL-encoding each value. */
export function buildPath(id: OperationId, params: Record<string, string | number> = {}): string {
  const op: Operation = operations[id];
  return op.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined || v === null || v === '') throw new Error(`missing path parameter ${name} for ${id}`);
    return encodeURIComponent(String(v));
  });
}
