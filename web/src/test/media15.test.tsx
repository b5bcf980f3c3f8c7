// The web side of issue 15: the library (unfiled items, filing), the concert album, clips by setlist song,
// songs in a clip, filed-by badges, and the hls.js player.
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Me, MediaRecord, ShowDetail } from '../api/types';
import { AuthProvider } from '../auth';
import { ClipSongs, initialSongIds } from '../components/ClipSongs';
import { VideoPlayer, choosePlayback, qualityLabel } from '../components/VideoPlayer';
import { parseChapters, vttTime } from '../lib/vtt';
import { ConcertAlbumPage } from '../pages/ConcertAlbum';
import { LibraryPage } from '../pages/Library';
import { MediaTab } from '../pages/show/MediaTab';
import { SetlistTab } from '../pages/show/SetlistTab';
import { fakeFetch } from './fakes';

// hls.js stand-in: records what the player asked of it, emits the manifest's levels
const hlsState = vi.hoisted(() => ({ instances: [] as { src: string; media: unknown; currentLevel: number; config: Record<string, unknown> }[], supported: true }));
vi.mock('hls.js', () => {
  class FakeHls {
    static Events = { MANIFEST_PARSED: 'manifestParsed', LEVEL_SWITCHED: 'levelSwitched', ERROR: 'error' };
    static ErrorTypes = { NETWORK_ERROR: 'networkError', MEDIA_ERROR: 'mediaError' };
    static isSupported = () => hlsState.supported;
    handlers: Record<string, (e: string, d: unknown) => void> = {};
    rec = { src: '', media: null as unknown, currentLevel: -1, config: {} as Record<string, unknown> };
    constructor(config: Record<string, unknown>) {
      this.rec.config = config;
      hlsState.instances.push(this.rec);
    }
    set currentLevel(n: number) {
      this.rec.currentLevel = n;
    }
    on(e: string, fn: (e: string, d: unknown) => void) {
      this.handlers[e] = fn;
    }
    loadSource(src: string) {
      this.rec.src = src;
    }
    attachMedia(m: unknown) {
      this.rec.media = m;
      this.handlers.manifestParsed?.('manifestParsed', { levels: [{ height: 360, bitrate: 800_000 }, { height: 720, bitrate: 2_500_000 }, { height: 1080, bitrate: 5_000_000 }] });
      this.handlers.levelSwitched?.('levelSwitched', { level: 1 });
    }
    destroy() {}
  }
  return { default: FakeHls };
});

const me: Me = { id: 1, username: 'ann', email: 'ann@example.com', email_verified: true, mfa_enabled: false, mfa_method: null, created_at: '2026-01-01T00:00:00Z' };

const video = (extra: Partial<MediaRecord> = {}): MediaRecord => ({
  id: 5, show_id: 7, user_id: 1, kind: 'video', status: 'ready', created_at: '', url: '/api/videos/5',
  urls: { hls: '/api/videos/5/hls/master.m3u8', poster: '/api/videos/5/poster' }, hls: { status: 'ready', progress: {} }, ...extra,
});

afterEach(() => {
  vi.unstubAllGlobals();
  hlsState.instances.length = 0;
  hlsState.supported = true;
});

describe('video playback choice', () => {
  const rec = video();
  it('streams HLS with hls.js where MSE exists, natively on Safari, else the MP4', () => {
    expect(choosePlayback(rec, { mse: true, nativeHls: true })).toEqual({ mode: 'hlsjs', src: '/api/videos/5/hls/master.m3u8' });
    expect(choosePlayback(rec, { mse: false, nativeHls: true })).toEqual({ mode: 'native', src: '/api/videos/5/hls/master.m3u8' });
    expect(choosePlayback(rec, { mse: false, nativeHls: false })).toEqual({ mode: 'mp4', src: '/api/videos/5' });
  });
  it('plays the MP4 while the ladder is not ready', () => {
    expect(choosePlayback(video({ hls: { status: 'working', progress: { '720p': 40 } } }), { mse: true, nativeHls: true }).mode).toBe('mp4');
    expect(choosePlayback(video({ urls: { poster: '/p' } }), { mse: true, nativeHls: true }).mode).toBe('mp4');
  });
  it('labels qualities by height', () => {
    expect(qualityLabel(720, 1)).toBe('720p');
    expect(qualityLabel(undefined, 96_000)).toBe('96 kbps');
  });
});

describe('VideoPlayer with hls.js', () => {
  it('attaches hls.js (worker from the build, not a blob:), offers auto and each quality, and picks one by hand', async () => {
    render(<VideoPlayer rec={video()} env={() => ({ mse: true, nativeHls: false })} />);
    const select = (await screen.findByTestId('video-quality')) as HTMLSelectElement;
    const hls = hlsState.instances[0];
    expect(hls.src).toBe('/api/videos/5/hls/master.m3u8');
    expect(hls.media).toBe(screen.getByTestId('video-element'));
    expect(String(hls.config.workerPath)).toMatch(/hls\.worker/);
    expect(screen.getByTestId('video-element').getAttribute('src')).toBeNull(); // MediaSource feeds it
    expect([...select.options].map((o) => o.textContent)).toEqual(['Auto (720p)', '1080p', '720p', '360p']);
    fireEvent.change(select, { target: { value: '2' } });
    expect(hls.currentLevel).toBe(2);
    fireEvent.change(select, { target: { value: '-1' } });
    expect(hls.currentLevel).toBe(-1); // back to the bandwidth estimate
  });

  it('falls back to the MP4 where hls.js is not supported', async () => {
    hlsState.supported = false;
    render(<VideoPlayer rec={video()} env={() => ({ mse: true, nativeHls: false })} />);
    await waitFor(() => expect(screen.getByTestId('video-player').getAttribute('data-mode')).toBe('mp4'));
    expect(screen.getByTestId('video-element').getAttribute('src')).toBe('/api/videos/5');
  });

  it('lists the chapters of the WebVTT as seek buttons, with a chapters track', async () => {
    const vtt = 'WEBVTT\n\n00:00.000 --> 03:10.500\nBrianstorm\n\n03:10.500 --> 06:00.000\n505\n';
    vi.stubGlobal('fetch', vi.fn(async () => new Response(vtt, { status: 200 })));
    render(<VideoPlayer rec={video({ urls: { hls: '/h.m3u8', chapters: '/api/videos/5/hls/chapters.vtt' } })} env={() => ({ mse: false, nativeHls: false })} />);
    const buttons = await screen.findAllByTestId('video-chapter');
    expect(buttons.map((b) => b.textContent)).toEqual(['Brianstorm', '505']);
    fireEvent.click(buttons[1]);
    expect((screen.getByTestId('video-element') as HTMLVideoElement).currentTime).toBe(190.5);
    expect(screen.getByTestId('video-element').querySelector('track[kind=chapters]')?.getAttribute('src')).toBe('/api/videos/5/hls/chapters.vtt');
  });

  it('parses WebVTT times and cues', () => {
    expect(vttTime('01:02:03.5')).toBe(3723.5);
    expect(vttTime('nope')).toBeNaN();
    expect(parseChapters('not vtt')).toEqual([]);
  });
});

describe('library', () => {
  const myShows = [
    { id: 7, user_id: 1, artist_name: 'Arctic Monkeys', venue_name: 'MSG', date: '2024-10-15', visibility: 'friends' },
    { id: 8, user_id: 1, artist_name: 'Muse', venue_name: 'O2', date: '2024-10-16', visibility: 'friends' },
  ];
  const unfiled = (id: number, suggestions: { show_id: number; score: number; reason: string }[]) => ({
    id, show_id: null, user_id: 1, kind: 'photo', status: 'ready', created_at: '', original_filename: `IMG_${id}.jpg`,
    taken_at: '2024-10-15T23:50:00Z', thumbnail_url: `/api/photos/${id}/thumbnail`, suggestions,
  });

  it('lists unfiled items with their suggested shows and files one with a click', async () => {
    const { fn, calls } = fakeFetch([
      ['GET', /^\/api\/media\/unfiled\?limit=24&offset=0$/, () => ({ body: { items: [unfiled(31, [{ show_id: 7, score: 0.62, reason: 'time' }]), unfiled(32, [])], total: 2 } })],
      ['GET', /^\/api\/shows\?/, () => ({ body: myShows, headers: { 'X-Total-Count': '2' } })],
      ['POST', /^\/api\/media\/31\/file$/, (c) => ({ body: { id: 31, show_id: (c.body as { show_id: number }).show_id, kind: 'photo', status: 'ready', filed_by: 'user' } })],
      ['POST', /^\/api\/media\/32\/file$/, () => ({ status: 403, body: { error: 'Not your show.', code: 'forbidden' } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(<LibraryPage />);
    const rows = await screen.findAllByTestId('unfiled-item');
    expect(rows).toHaveLength(2);
    expect(screen.getByTestId('unfiled-total').textContent).toBe('(2)');
    const suggestion = await within(rows[0]).findByText(/File to Arctic Monkeys · MSG/);
    expect(suggestion.getAttribute('data-show-id')).toBe('7');
    expect(within(rows[0]).getByText(/same day · 62%/)).toBeTruthy();
    // "another show" offers the shows not suggested
    const pick = within(rows[0]).getByTestId('unfiled-pick') as HTMLSelectElement;
    expect([...pick.options].map((o) => o.value)).toEqual(['', '8']);
    fireEvent.click(suggestion);
    await waitFor(() => expect(screen.getAllByTestId('unfiled-item')).toHaveLength(1));
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({ show_id: 7 });
    expect(calls.find((c) => c.method === 'POST')!.headers['content-type']).toContain('application/json');
    expect(screen.getByTestId('library-notice').textContent).toContain('IMG_31.jpg to Arctic Monkeys');
    expect(screen.getByTestId('unfiled-total').textContent).toBe('(1)');
    // a refusal stays on its row
    const row = screen.getByTestId('unfiled-item');
    fireEvent.change(within(row).getByTestId('unfiled-pick'), { target: { value: '8' } });
    fireEvent.click(within(row).getByTestId('unfiled-pick-file'));
    expect((await within(row).findByTestId('unfiled-item-error')).textContent).toBe('Not your show.');
    // the library's upload has no show and a folder picker
    expect(screen.getByTestId('upload-library-folder').hasAttribute('webkitdirectory')).toBe(true);
  });

  it('pages with "show more"', async () => {
    const { fn, calls } = fakeFetch([
      ['GET', /^\/api\/media\/unfiled\?limit=24&offset=0$/, () => ({ body: { items: Array.from({ length: 24 }, (_, i) => unfiled(100 + i, [])), total: 25 } })],
      ['GET', /^\/api\/media\/unfiled\?limit=24&offset=24$/, () => ({ body: { items: [unfiled(200, [])], total: 25 } })],
      ['GET', /^\/api\/shows\?/, () => ({ body: [] })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(<LibraryPage />);
    fireEvent.click(await screen.findByTestId('library-more'));
    await waitFor(() => expect(screen.getAllByTestId('unfiled-item')).toHaveLength(25));
    expect(screen.queryByTestId('library-more')).toBeNull();
    expect(calls.filter((c) => c.url.startsWith('/api/media/unfiled'))).toHaveLength(2);
  });
});

describe('concert album', () => {
  it('shows everyone’s items in capture order with who took each, and loads more', async () => {
    const item = (id: number, user: string, kind: 'photo' | 'video', taken: string) => ({
      id, show_id: 7, user_id: id, kind, status: 'ready', created_at: '', taken_at: taken, user: { id, username: user },
      url: `/api/${kind}s/${id}`, thumbnail_url: `/api/${kind}s/${id}/thumbnail`,
    });
    const { fn, calls } = fakeFetch([
      ['GET', /^\/api\/concerts\/44\/album\?limit=30&offset=0$/, () => ({ body: { items: [item(1, 'ann', 'photo', '2024-10-15T21:00:00Z'), item(2, 'bob', 'video', '2024-10-15T21:05:00Z')], total: 3 } })],
      ['GET', /^\/api\/concerts\/44\/album\?limit=30&offset=2$/, () => ({ body: { items: [item(3, 'cy', 'photo', '2024-10-15T22:00:00Z')], total: 3 } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(<ConcertAlbumPage params={{ id: '44' }} />);
    await waitFor(() => expect(screen.getAllByTestId('album-item')).toHaveLength(2));
    expect(screen.getAllByTestId('album-user').map((u) => u.textContent)).toEqual(['ann', 'bob']);
    expect(screen.getAllByTestId('album-item')[1].getAttribute('data-kind')).toBe('video');
    expect(screen.getByTestId('album-total').textContent).toContain('3 items');
    fireEvent.click(screen.getByTestId('album-more'));
    await waitFor(() => expect(screen.getAllByTestId('album-item')).toHaveLength(3));
    expect(screen.getAllByTestId('album-user')[2].textContent).toBe('cy');
    expect(calls.map((c) => c.url)).toEqual(['/api/concerts/44/album?limit=30&offset=0', '/api/concerts/44/album?limit=30&offset=2']);
  });
});

const show: ShowDetail = {
  id: 7, user_id: 1, is_owner: true, concert_id: 44, artist_name: 'Arctic Monkeys', venue_name: 'MSG', date: '2024-10-15', visibility: 'friends',
  setlist: [{ id: 11, order: 1, title: 'Do I Wanna Know?' }, { id: 12, order: 2, title: 'Brianstorm' }, { id: 13, order: 3, title: '505' }],
};

describe('clips on the setlist', () => {
  it('puts a camera by each song with clips and plays that song’s clips from everyone', async () => {
    const { fn } = fakeFetch([
      ['GET', /^\/api\/shows\/7\/setlist\/clips$/, () => ({ body: { songs: [{ song_id: 12, clips: 2 }, { song_id: 13, clips: 0 }] } })],
      ['GET', /^\/api\/shows\/7\/setlist\/12\/clips$/, () => ({ body: { items: [
        { ...video({ id: 61, urls: {}, hls: null }), user: { id: 2, username: 'bob' } },
        { id: 62, show_id: 9, user_id: 3, kind: 'audio', status: 'ready', created_at: '', url: '/api/audio/62', user: { id: 3, username: 'cy' } },
      ], total: 2 } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(
      <AuthProvider initialUser={me}>
        <SetlistTab show={show} onChanged={() => undefined} />
      </AuthProvider>,
    );
    const camera = await screen.findByTestId('setlist-song-clips');
    expect(screen.getAllByTestId('setlist-song-clips')).toHaveLength(1);
    expect(camera.getAttribute('data-song-id')).toBe('12');
    expect(camera.getAttribute('aria-label')).toBe('2 clips of Brianstorm');
    fireEvent.click(camera);
    const clips = await screen.findAllByTestId('song-clip');
    expect(clips.map((c) => c.getAttribute('data-kind'))).toEqual(['video', 'audio']);
    expect(screen.getAllByTestId('song-clip-user').map((u) => u.textContent)).toEqual(['bob', 'cy']);
    expect(within(clips[0]).getByTestId('video-element')).toBeTruthy();
    fireEvent.click(screen.getByTestId('song-clips-close'));
    expect(screen.queryByTestId('song-clips')).toBeNull();
  });

  it('pre-ticks the suggested songs of the owner’s clip and saves the choice as song_ids', async () => {
    const rec = video({ song_ids: [], song_suggestions: [{ song_id: 12, score: 0.8, start_s: 0, end_s: 190 }, { song_id: 13, score: 0.5, start_s: 190, end_s: 300 }] });
    expect(initialSongIds(rec)).toEqual(['12', '13']);
    expect(initialSongIds({ ...rec, song_ids: [11] })).toEqual(['11']);
    const { fn, calls } = fakeFetch([['PUT', /^\/api\/videos\/5$/, (c) => ({ body: { ...rec, song_ids: (c.body as { song_ids: number[] }).song_ids } })]]);
    vi.stubGlobal('fetch', fn);
    const saved = vi.fn();
    render(<ClipSongs rec={rec} setlist={show.setlist!} onSaved={saved} />);
    expect((screen.getByTestId('clip-song-12') as HTMLInputElement).checked).toBe(true);
    expect((screen.getByTestId('clip-song-13') as HTMLInputElement).checked).toBe(true);
    expect((screen.getByTestId('clip-song-11') as HTMLInputElement).checked).toBe(false);
    fireEvent.click(screen.getByTestId('clip-song-13')); // the uploader corrects the suggestion
    fireEvent.click(screen.getByTestId('clip-songs-save'));
    await screen.findByTestId('clip-songs-saved');
    expect(calls[0].body).toEqual({ song_ids: [12] });
    expect(saved).toHaveBeenCalledWith(expect.objectContaining({ song_ids: [12] }));
  });

  it('shows how library items were filed, and songs in a clip only on the uploader’s own videos', async () => {
    const { fn } = fakeFetch([
      ['GET', /^\/api\/videos\/show\/7/, () => ({ body: { recordings: [
        video({ id: 5, filed_by: 'time', song_suggestions: [{ song_id: 12, score: 0.9 }] }),
        video({ id: 6, user_id: 2, filed_by: null }),
      ], total: 2 } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(
      <AuthProvider initialUser={me}>
        <MediaTab kind="video" show={show} onCount={() => undefined} />
      </AuthProvider>,
    );
    await waitFor(() => expect(screen.getAllByTestId('video-item')).toHaveLength(2));
    const [mine, theirs] = screen.getAllByTestId('video-item');
    expect(within(mine).getByTestId('media-filed-by').textContent).toBe('filed by time');
    expect(within(theirs).queryByTestId('media-filed-by')).toBeNull();
    expect(within(mine).getByTestId('clip-songs')).toBeTruthy();
    expect(within(theirs).queryByTestId('clip-songs')).toBeNull();
  });
});
