import type { MediaRecord, Show } from '../api/types';

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(`${iso}T12:00:00`) : new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

export function formatBytes(n: number | null | undefined): string {
  if (!n && n !== 0) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function showTitle(s: Pick<Show, 'artist_name' | 'venue_name'> & Partial<Show>): string {
  const artist = s.artist_name || s.artist?.name || 'Unknown artist';
  const venue = s.venue_name || s.venue?.name || 'unknown venue';
  return `${artist} at ${venue}`;
}

export function showPlace(s: Partial<Show>): string {
  if (s.venue_location) return s.venue_location;
  const v = s.venue;
  if (!v) return '';
  return v.location || [v.city, v.state || v.country].filter(Boolean).join(', ');
}

/** Add or replace one query parameter of a same-origin URL path. */
export function withParam(url: string, key: string, value: string): string {
  const [base, hash = ''] = url.split('#');
  const [path, qs = ''] = base.split('?');
  const sp = new URLSearchParams(qs);
  sp.set(key, value);
  return `${path}?${sp.toString()}${hash ? `#${hash}` : ''}`;
}

const mediaBase = { photo: '/api/photos', audio: '/api/audio', video: '/api/videos' } as const;

/** Thumbnail URL of a photo (or video poster) at a size; same-origin so cookies authenticate it. */
export function thumbnailUrl(m: MediaRecord, size: 'small' | 'medium' | 'large'): string {
  const key = `thumbnail_${size}` as const;
  const direct = m.urls?.[key];
  if (direct) return direct;
  if (m.kind === 'video' && m.urls?.poster) return m.urls.poster;
  const base = m.thumbnail_url || `${mediaBase[m.kind] ?? '/api/photos'}/${m.id}/thumbnail`;
  return withParam(base, 'size', size);
}

/** The playable/full-size URL: the record's `url` (a same-origin path), never prefixed twice. */
export function mediaUrl(m: MediaRecord): string {
  return m.url || `${mediaBase[m.kind] ?? '/api/photos'}/${m.id}`;
}

export function todayIso(d = new Date()): string {
  const y = d.getFullYear();
  const m = String(d.getMonth() + 1).padStart(2, '0');
  const day = String(d.getDate()).padStart(2, '0');
  return `${y}-${m}-${day}`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
