import { afterEach, describe, expect, it, vi } from 'vitest';
import * as tus from 'tus-js-client';
import { FetchHttpStack, UploadQueue, browserUrlStorage, fingerprintOf, kindOf, pendingUploads, retryAfterSeconds, type QueueDeps, type QueueItem } from './uploads';

const ORIGIN = window.location.origin;

/** A tus server behind a fetch stub: creation, PATCH appends, HEAD, DELETE; switches to refuse or stall. */
class TusServer {
  uploads = new Map<string, { length: number; offset: number; meta: string; id: number }>();
  requests: { method: string; url: string; headers: Record<string, string> }[] = [];
  /** filename → answer to its creation (once). */
  refuse = new Map<string, { status: number; body?: unknown; headers?: Record<string, string> }>();
  /** PATCHes wait until released (to watch how many are in flight). */
  hold = false;
  private held: (() => void)[] = [];
  inFlight = 0;
  maxInFlight = 0;
  next = 1;

  fetch = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = String(input).replace(ORIGIN, '');
    const method = init.method ?? 'GET';
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    this.requests.push({ method, url, headers });
    if (headers['tus-resumable'] !== '1.0.0') return new Response(null, { status: 412 });
    if (method === 'POST' && url === '/api/uploads') {
      const meta = headers['upload-metadata'] ?? '';
      const name = metaOf(meta).filename;
      const no = this.refuse.get(name);
      if (no) {
        this.refuse.delete(name);
        return new Response(JSON.stringify(no.body ?? {}), { status: no.status, headers: no.headers });
      }
      const id = this.next++;
      this.uploads.set(`/api/uploads/${id}`, { length: Number(headers['upload-length']), offset: 0, meta, id });
      return new Response(null, { status: 201, headers: { Location: `/api/uploads/${id}`, 'Tus-Resumable': '1.0.0' } });
    }
    const up = this.uploads.get(url);
    if (!up) return new Response(null, { status: 404 });
    const done = (h: Record<string, string>) => (up.offset === up.length ? { ...h, 'X-Media-Id': String(100 + up.id) } : h);
    if (method === 'HEAD') {
      return new Response(null, { status: 200, headers: done({ 'Upload-Offset': String(up.offset), 'Upload-Length': String(up.length), 'Tus-Resumable': '1.0.0' }) });
    }
    if (method === 'DELETE') {
      this.uploads.delete(url);
      return new Response(null, { status: 204 });
    }
    if (Number(headers['upload-offset']) !== up.offset) return new Response(null, { status: 409 });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hold) await new Promise<void>((r) => this.held.push(r));
      if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
      up.offset += (init.body as Blob).size;
    } finally {
      this.inFlight--;
    }
    return new Response(null, { status: 204, headers: done({ 'Upload-Offset': String(up.offset), 'Tus-Resumable': '1.0.0' }) });
  });

  release(): void {
    const waiting = this.held;
    this.held = [];
    waiting.forEach((r) => r());
  }
}

function metaOf(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of header.split(',').filter(Boolean)) {
    const [k, v] = pair.split(' ');
    out[k] = v ? atob(v) : '';
  }
  return out;
}

function file(name: string, size: number, type = 'image/jpeg'): File {
  return new File([new Uint8Array(size)], name, { type, lastModified: 1_700_000_000_000 });
}

function queueWith(server: TusServer, extra: Partial<QueueDeps> = {}, concurrency = 3) {
  vi.stubGlobal('fetch', server.fetch);
  const states: QueueItem[][] = [];
  const done: QueueItem[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const queue = new UploadQueue(
    {
      endpoint: `${ORIGIN}/api/uploads`,
      urlStorage: browserUrlStorage(),
      httpStack: new FetchHttpStack(),
      headers: (method): Record<string, string> => (method === 'GET' || method === 'HEAD' ? {} : { 'X-CSRF-TOKEN': 'csrf-1' }),
      refresh: () => Promise.resolve(true),
      later: (fn, ms) => void timers.push({ fn, ms }),
      chunkSize: 4,
      retryDelays: [0],
      ...extra,
    },
    { concurrency, onChange: (items) => states.push(items), onDone: (it) => done.push(it) },
  );
  const last = () => states[states.length - 1] ?? [];
  return { queue, done, timers, last };
}

const settle = () => new Promise((r) => setTimeout(r, 0));
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await settle();
  }
  throw new Error(`timed out waiting for ${what}`);
}

afterEach(() => {
  window.localStorage.clear();
  vi.unstubAllGlobals();
});

describe('upload queue (tus-js-client)', () => {
  it('uploads a show photo in chunks with the CSRF header and the show in Upload-Metadata, then forgets it', async () => {
    const server = new TusServer();
    const { queue, done, last } = queueWith(server);
    queue.add([file('stage.jpg', 10)], { kind: 'photo', showId: 7, extra: { caption: 'encore' } });
    await until(() => done.length === 1, 'the upload');
    const create = server.requests.find((r) => r.method === 'POST')!;
    expect(create.headers['x-csrf-token']).toBe('csrf-1');
    expect(create.headers['upload-length']).toBe('10');
    expect(metaOf(create.headers['upload-metadata'])).toEqual({ filename: 'stage.jpg', filetype: 'image/jpeg', kind: 'photo', show_id: '7', caption: 'encore' });
    const patches = server.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((p) => p.headers['upload-offset'])).toEqual(['0', '4', '8']);
    expect(patches.every((p) => p.headers['x-csrf-token'] === 'csrf-1' && p.headers['content-type'] === 'application/offset+octet-stream')).toBe(true);
    expect(done[0]).toMatchObject({ mediaId: '101', state: 'done', progress: 1 });
    expect(last()[0].state).toBe('done');
    expect(window.localStorage.length).toBe(0); // finished uploads are forgotten
  });

  it('sends library files without a show, each as the kind its type says, skipping other files', async () => {
    const server = new TusServer();
    const { queue, done } = queueWith(server);
    const skipped = queue.add([file('IMG_1.HEIC', 3, ''), file('clip.mov', 3, 'video/quicktime'), file('.DS_Store', 3, '')], {});
    expect(skipped).toBe(1);
    await until(() => done.length === 2, 'both uploads');
    const metas = server.requests.filter((r) => r.method === 'POST').map((r) => metaOf(r.headers['upload-metadata']));
    expect(metas.map((m) => [m.filename, m.kind, 'show_id' in m])).toEqual([['IMG_1.HEIC', 'photo', false], ['clip.mov', 'video', false]]);
  });

  it('keeps at most three files in flight out of thirty, and finishes them all', async () => {
    const server = new TusServer();
    server.hold = true;
    const { queue, done, last } = queueWith(server);
    queue.add(Array.from({ length: 30 }, (_, i) => file(`p${i}.jpg`, 4)), { kind: 'photo', showId: 1 });
    await until(() => server.inFlight === 3, 'three in flight');
    expect(last().filter((it) => it.state === 'uploading')).toHaveLength(3);
    expect(last().filter((it) => it.state === 'queued')).toHaveLength(27);
    for (let i = 0; i < 200 && done.length < 30; i++) {
      server.release();
      await settle();
    }
    expect(done).toHaveLength(30);
    expect(server.maxInFlight).toBe(3);
    expect(server.requests.filter((r) => r.method === 'POST')).toHaveLength(30);
  });

  it('resumes after a reload at the offset the server has, when the same file is chosen again', async () => {
    const server = new TusServer();
    server.hold = true;
    const first = queueWith(server);
    const big = file('encore.mp4', 12, 'video/mp4');
    first.queue.add([big], { kind: 'video', showId: 7 });
    await until(() => server.inFlight === 1, 'the first chunk');
    server.release(); // 4 of 12 bytes arrive, then the page goes away
    await until(() => server.inFlight === 1, 'the second chunk');
    first.queue.pause(first.last()[0].key);
    server.hold = false;
    server.release();
    await until(() => server.inFlight === 0, 'the abort');

    // "reload": a new queue with nothing in memory; the page lists the unfinished upload from localStorage
    const pending = await pendingUploads(browserUrlStorage(), { kind: 'video', showId: 7 });
    expect(pending.map((p) => [p.name, p.size, p.uploadUrl?.replace(ORIGIN, '')])).toEqual([['encore.mp4', 12, '/api/uploads/1']]);
    expect(await pendingUploads(browserUrlStorage(), { kind: 'video', showId: 8 })).toEqual([]);
    const offsetBefore = server.uploads.get('/api/uploads/1')!.offset;
    expect(offsetBefore).toBe(4);

    server.requests = [];
    const second = queueWith(server);
    second.queue.add([new File([new Uint8Array(12)], 'encore.mp4', { type: 'video/mp4', lastModified: big.lastModified })], { kind: 'video', showId: 7 });
    await until(() => second.done.length === 1, 'the resumed upload');
    expect(server.requests.map((r) => `${r.method} ${r.url.replace(ORIGIN, '')}`)).toEqual([
      'HEAD /api/uploads/1', 'PATCH /api/uploads/1', 'PATCH /api/uploads/1',
    ]);
    expect(server.requests[1].headers['upload-offset']).toBe('4');
    expect(second.done[0].mediaId).toBe('101');
    expect(await pendingUploads(browserUrlStorage(), { kind: 'video', showId: 7 })).toEqual([]);
  });

  it('waits as long as Retry-After says on 429 without holding a slot, then sends the file again', async () => {
    const server = new TusServer();
    server.refuse.set('a.jpg', { status: 429, body: { error: 'You started more than 60 uploads in 60 seconds.', code: 'upload_rate_limited' }, headers: { 'Retry-After': '7' } });
    const { queue, done, timers, last } = queueWith(server, {}, 1);
    queue.add([file('a.jpg', 4), file('b.jpg', 4)], { kind: 'photo', showId: 1 });
    await until(() => timers.length === 1, 'the wait');
    expect(timers[0].ms).toBe(7000);
    expect(last()[0]).toMatchObject({ state: 'waiting', note: 'Waiting 7 s (upload limit)' });
    await until(() => done.length === 1, 'b.jpg meanwhile'); // the one slot went to the next file
    expect(done[0].name).toBe('b.jpg');
    timers[0].fn();
    await until(() => done.length === 2, 'a.jpg after the wait');
    expect(server.requests.filter((r) => r.method === 'POST')).toHaveLength(3);
  });

  it('shows the server’s error per file for 413 and 415, and the others go on', async () => {
    const server = new TusServer();
    server.refuse.set('huge.mp4', { status: 413, body: { error: 'Your storage quota is full.', code: 'quota_exceeded' } });
    server.refuse.set('doc.jpg', { status: 415, body: {} });
    const { queue, done, last } = queueWith(server);
    queue.add([file('huge.mp4', 4, 'video/mp4'), file('doc.jpg', 4), file('ok.jpg', 4)], { showId: 2 });
    await until(() => done.length === 1 && last().filter((i) => i.state === 'error').length === 2, 'the errors');
    const byName = Object.fromEntries(last().map((i) => [i.name, i]));
    expect(byName['huge.mp4'].error).toBe('Your storage quota is full.');
    expect(byName['doc.jpg'].error).toBe('That file type is not supported.');
    expect(byName['ok.jpg'].state).toBe('done');
  });

  it('refreshes the session once on a 401 and goes on', async () => {
    const server = new TusServer();
    server.refuse.set('a.jpg', { status: 401, body: { error: 'Token expired', code: 'token_expired' } });
    const refresh = vi.fn(() => Promise.resolve(true));
    const { queue, done } = queueWith(server, { refresh });
    queue.add([file('a.jpg', 4)], { kind: 'photo', showId: 1 });
    await until(() => done.length === 1, 'the upload');
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it('pauses and resumes one file from where it stopped', async () => {
    const server = new TusServer();
    server.hold = true;
    const { queue, done, last } = queueWith(server);
    queue.add([file('a.jpg', 8)], { kind: 'photo', showId: 1 });
    await until(() => server.inFlight === 1, 'the first chunk');
    server.release();
    await until(() => server.inFlight === 1, 'the second chunk');
    const key = last()[0].key;
    queue.pause(key);
    expect(last()[0].state).toBe('paused');
    server.hold = false;
    server.release();
    queue.resume(key);
    await until(() => done.length === 1, 'the resumed upload');
    expect(server.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });
});

describe('upload helpers', () => {
  it('tells the kind by type, else by extension', () => {
    expect(kindOf({ name: 'x.bin', type: 'image/png' })).toBe('photo');
    expect(kindOf({ name: 'IMG_0001.HEIC', type: '' })).toBe('photo');
    expect(kindOf({ name: 'a.m4a', type: '' })).toBe('audio');
    expect(kindOf({ name: 'notes.txt', type: 'text/plain' })).toBeNull();
  });

  it('fingerprints the file and its destination', () => {
    const f = file('a.jpg', 4);
    expect(fingerprintOf(f, 'photo', '7')).not.toBe(fingerprintOf(f, 'photo', null));
    expect(fingerprintOf(f, 'photo', '7')).toBe(fingerprintOf(file('a.jpg', 4), 'photo', '7'));
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfterSeconds('12')).toBe(12);
    expect(retryAfterSeconds(new Date(10_000 + 5_000).toUTCString(), 10_000)).toBe(5);
    expect(retryAfterSeconds(null)).toBeNull();
  });

  it('uses tus-js-client’s browser build', () => {
    expect(tus.isSupported).toBe(true);
    expect(tus.canStoreURLs).toBe(true);
  });
});
