import { encode } from 'blurhash';
import { describe, expect, it } from 'vitest';
import type { MediaRecord, SetlistSong } from '../api/types';
import { decodePlaceholder, isBlurhash } from './blurhash';
import { mediaUrl, showTitle, thumbnailUrl, withParam, formatDuration } from './format';
import { guard, safeNext } from './guards';
import { matchPath } from './router';
import { dropIndex, isDuration, moveSong, normalise } from './setlist';
import { downsample, parsePeaks } from './waveform';
import { showsPerYear } from './years';

const song = (id: number, order: number, title = `S${id}`): SetlistSong => ({ id, order, title });

describe('setlist ordering', () => {
  const list = [song(1, 1), song(2, 2), song(3, 3), song(4, 4)];
  it('moves down and renumbers densely', () => {
    const r = moveSong(list, 0, 2);
    expect(r.map((s) => s.id)).toEqual([2, 3, 1, 4]);
    expect(r.map((s) => s.order)).toEqual([1, 2, 3, 4]);
  });
  it('moves up, clamps out-of-range targets, ignores bad sources', () => {
    expect(moveSong(list, 3, 0).map((s) => s.id)).toEqual([4, 1, 2, 3]);
    expect(moveSong(list, 1, 99).map((s) => s.id)).toEqual([1, 3, 4, 2]);
    expect(moveSong(list, 9, 0).map((s) => s.id)).toEqual([1, 2, 3, 4]);
  });
  it('normalises gaps and unsorted input without mutating it', () => {
    const messy = [song(1, 10), song(2, 3), song(3, 7)];
    expect(normalise(messy).map((s) => [s.id, s.order])).toEqual([[2, 1], [3, 2], [1, 3]]);
    expect(messy[0].order).toBe(10);
  });
  it('computes the drop index for before/after halves', () => {
    expect(dropIndex(0, 2, false)).toBe(1); // drop above row 2 while dragging row 0 down
    expect(dropIndex(0, 2, true)).toBe(2);
    expect(dropIndex(3, 1, false)).toBe(1);
    expect(dropIndex(3, 1, true)).toBe(2);
  });
  it('checks m:ss durations', () => {
    expect(isDuration('3:45')).toBe(true);
    expect(isDuration('')).toBe(true);
    expect(isDuration('3:75')).toBe(false);
    expect(isDuration('abc')).toBe(false);
  });
});

describe('waveform peaks', () => {
  it('accepts arrays, {peaks}, and audiowaveform min/max pairs', () => {
    expect(parsePeaks([0, 0.5, 1])).toEqual([0, 0.5, 1]);
    expect(parsePeaks({ peaks: [0, 50, 100] })).toEqual([0, 0.5, 1]);
    expect(parsePeaks({ version: 2, channels: 1, bits: 8, data: [-10, 20, -128, 64] })).toEqual([20 / 128, 1]);
    expect(parsePeaks({ nope: 1 })).toEqual([]);
    expect(parsePeaks([0, 0])).toEqual([0, 0]);
  });
  it('downsamples by bucket maximum', () => {
    expect(downsample([0.1, 0.9, 0.2, 0.3, 0.5, 0.4], 3)).toEqual([0.9, 0.3, 0.5]);
    expect(downsample([0.1, 0.2], 10)).toEqual([0.1, 0.2]);
    expect(downsample([], 5)).toEqual([]);
  });
});

describe('blurhash placeholder', () => {
  const pixels = new Uint8ClampedArray(4 * 4 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 37) % 255));
  const hash = encode(pixels, 4, 4, 4, 3);
  it('validates and decodes to RGBA pixels', () => {
    expect(isBlurhash(hash)).toBe(true);
    expect(isBlurhash('not a hash')).toBe(false);
    expect(isBlurhash(null)).toBe(false);
    const out = decodePlaceholder(hash, 8, 6);
    expect(out).not.toBeNull();
    expect(out!.length).toBe(8 * 6 * 4);
    expect(decodePlaceholder('garbage!')).toBeNull();
  });
});

describe('router and guards', () => {
  it('matches path patterns', () => {
    expect(matchPath('/shows/:id', '/shows/12')).toEqual({ id: '12' });
    expect(matchPath('/shows/:id', '/shows/12/')).toEqual({ id: '12' });
    expect(matchPath('/shows/:id', '/shows')).toBeNull();
    expect(matchPath('/shows/:id/edit', '/shows/5/edit')).toEqual({ id: '5' });
    expect(matchPath('/', '/')).toEqual({});
  });
  it('sends signed-out people to login with the page to come back to', () => {
    expect(guard({ access: 'auth', loading: false, signedIn: false, pathname: '/shows/3', search: '?tab=live' })).toEqual({ kind: 'redirect', to: '/login?next=%2Fshows%2F3%3Ftab%3Dlive' });
    expect(guard({ access: 'auth', loading: false, signedIn: false, pathname: '/', search: '' })).toEqual({ kind: 'redirect', to: '/login' });
    expect(guard({ access: 'auth', loading: true, signedIn: false, pathname: '/shows', search: '' })).toEqual({ kind: 'wait' });
    expect(guard({ access: 'auth', loading: false, signedIn: true, pathname: '/shows', search: '' })).toEqual({ kind: 'render' });
  });
  it('sends signed-in people away from login to a safe next', () => {
    expect(guard({ access: 'guest', loading: false, signedIn: true, pathname: '/login', search: '?next=%2Fshows%2F3' })).toEqual({ kind: 'redirect', to: '/shows/3' });
    expect(guard({ access: 'guest', loading: false, signedIn: true, pathname: '/login', search: '?next=//evil.example' })).toEqual({ kind: 'redirect', to: '/dashboard' });
    expect(guard({ access: 'guest', loading: false, signedIn: false, pathname: '/login', search: '' })).toEqual({ kind: 'render' });
    expect(guard({ access: 'public', loading: true, signedIn: false, pathname: '/verify-email', search: '' })).toEqual({ kind: 'render' });
    expect(safeNext('https://evil.example')).toBe('/dashboard');
    expect(safeNext('/login?next=/x')).toBe('/dashboard');
  });
});

describe('formatting and media URLs', () => {
  const photo = { id: 5, kind: 'photo', status: 'ready', thumbnail_url: '/api/photos/5/thumbnail', url: '/api/photos/5', urls: {} } as unknown as MediaRecord;
  it('adds size to thumbnail URLs and never double-prefixes /api', () => {
    expect(thumbnailUrl(photo, 'small')).toBe('/api/photos/5/thumbnail?size=small');
    expect(thumbnailUrl({ ...photo, urls: { thumbnail_large: '/api/photos/5/thumbnail?size=large' } }, 'large')).toBe('/api/photos/5/thumbnail?size=large');
    expect(mediaUrl({ ...photo, kind: 'video', url: '/api/videos/5' })).toBe('/api/videos/5');
    expect(mediaUrl({ ...photo, kind: 'video', url: null })).toBe('/api/videos/5');
    expect(withParam('/a?x=1#h', 'size', 'small')).toBe('/a?x=1&size=small#h');
  });
  it('formats durations and titles', () => {
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(null)).toBe('');
    expect(showTitle({ artist_name: 'Arctic Monkeys', venue_name: 'MSG' })).toBe('Arctic Monkeys at MSG');
  });
  it('counts shows per year from stats or dates, filling gaps', () => {
    expect(showsPerYear({ shows_per_year: { '2022': 2, '2024': 1 } })).toEqual([
      { year: '2022', count: 2 },
      { year: '2023', count: 0 },
      { year: '2024', count: 1 },
    ]);
    expect(showsPerYear({ shows_per_year: [{ year: 2020, count: 3 }] })).toEqual([{ year: '2020', count: 3 }]);
    expect(showsPerYear(null, ['2021-05-01', '2021-06-01', '2023-01-01', ''])).toEqual([
      { year: '2021', count: 2 },
      { year: '2022', count: 0 },
      { year: '2023', count: 1 },
    ]);
    expect(showsPerYear(null, [])).toEqual([]);
  });
});
