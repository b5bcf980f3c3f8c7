import { describe, expect, it } from 'vitest';
import { TusUpload, encodeMetadata, fingerprint, pendingUploads, type KeyValueStore, type TusDeps } from './tus';

const readBlob = (b: Blob) =>
  new Promise<Uint8Array>((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(new Uint8Array(r.result as ArrayBuffer));
    r.onerror = reject;
    r.readAsArrayBuffer(b);
  });

class MemoryStore implements KeyValueStore {
  private map = new Map<string, string>();
  getItem(k: string) { return this.map.get(k) ?? null; }
  setItem(k: string, v: string) { this.map.set(k, v); }
  removeItem(k: string) { this.map.delete(k); }
  get length() { return this.map.size; }
  key(i: number) { return [...this.map.keys()][i] ?? null; }
}

/** A tus server in memory: what it stored, and a switch to drop the connection after some bytes. */
class FakeServer {
  uploads = new Map<string, { length: number; data: Uint8Array; offset: number; meta: string }>();
  requests: string[] = [];
  dropAfter: number | null = null;
  next = 1;

  fetch: typeof fetch = async (input, init) => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const h = new Headers(init?.headers);
    this.requests.push(`${method} ${url}`);
    if (h.get('Tus-Resumable') !== '1.0.0') return new Response(null, { status: 412 });
    if (method === 'POST') {
      const id = `/api/uploads/${this.next++}`;
      const length = Number(h.get('Upload-Length'));
      this.uploads.set(id, { length, data: new Uint8Array(length), offset: 0, meta: h.get('Upload-Metadata') ?? '' });
      return new Response(null, { status: 201, headers: { Location: id } });
    }
    const up = this.uploads.get(url);
    if (!up) return new Response(null, { status: 404 });
    if (method === 'HEAD') {
      const headers: Record<string, string> = { 'Upload-Offset': String(up.offset) };
      if (up.offset === up.length) headers['X-Media-Id'] = '42';
      return new Response(null, { status: 200, headers });
    }
    if (method === 'DELETE') {
      this.uploads.delete(url);
      return new Response(null, { status: 204 });
    }
    if (Number(h.get('Upload-Offset')) !== up.offset) return new Response(null, { status: 409 });
    const body = await readBlob(init?.body as Blob);
    if (this.dropAfter !== null) {
      const kept = body.slice(0, this.dropAfter); // the server keeps what arrived, the client sees a dead socket
      up.data.set(kept, up.offset);
      up.offset += kept.length;
      this.dropAfter = null;
      throw new TypeError('network error');
    }
    up.data.set(body, up.offset);
    up.offset += body.length;
    const headers: Record<string, string> = { 'Upload-Offset': String(up.offset) };
    if (up.offset === up.length) headers['X-Media-Id'] = '42';
    return new Response(null, { status: 204, headers });
  };
}

function deps(server: FakeServer, store: KeyValueStore): TusDeps {
  return { fetch: server.fetch, store, headers: () => ({ 'X-CSRF-TOKEN': 't' }), refresh: async () => false, sleep: async () => {} };
}

function file(size: number, name = 'encore.mp4'): File {
  const bytes = new Uint8Array(size).map((_, i) => i % 251);
  return new File([bytes], name, { lastModified: 1234 });
}

const META = { kind: 'video', show_id: '7', filename: 'encore.mp4' };

describe('tus client', () => {
  it('creates, sends chunks with progress, and forgets the upload when done', async () => {
    const server = new FakeServer();
    const store = new MemoryStore();
    const seen: number[] = [];
    const f = file(10_000);
    const up = new TusUpload(f, META, deps(server, store), { chunkSize: 3000, onProgress: (s) => seen.push(s) });
    expect(await up.start()).toBe(42);
    expect(seen).toEqual([0, 3000, 6000, 9000, 10_000, 10_000]);
    const stored = [...server.uploads.values()][0];
    expect(stored.data).toEqual(await readBlob(f));
    expect(stored.meta).toBe(encodeMetadata(META));
    expect(store.length).toBe(0);
  });

  it('resumes from the server offset after a dropped connection', async () => {
    const server = new FakeServer();
    const store = new MemoryStore();
    const f = file(9000);
    const up = new TusUpload(f, META, deps(server, store), { chunkSize: 4000 });
    server.dropAfter = 1500;
    expect(await up.start()).toBe(42);
    const stored = [...server.uploads.values()][0];
    expect(stored.data).toEqual(await readBlob(f));
    expect(server.requests).toContain('HEAD /api/uploads/1');
  });

  it('resumes after a reload: same file, new page, the stored URL and HEAD', async () => {
    const server = new FakeServer();
    const store = new MemoryStore();
    const f = file(8000);
    const first = new TusUpload(f, META, deps(server, store), { chunkSize: 2000, onProgress: (s) => { if (s >= 4000) first.pause(); } });
    await expect(first.start()).rejects.toMatchObject({ code: 'paused' });
    expect(pendingUploads(store, 'video', '7')).toMatchObject([{ name: 'encore.mp4', offset: 4000, url: '/api/uploads/1' }]);
    expect(pendingUploads(store, 'photo', '7')).toEqual([]);
    // the page reloads: a fresh client with the same file finds its upload
    const second = new TusUpload(file(8000), META, deps(server, store), { chunkSize: 2000 });
    expect(second.fingerprint).toBe(fingerprint(f, META));
    expect(await second.start()).toBe(42);
    expect(server.requests.filter((r) => r.startsWith('POST'))).toHaveLength(1);
    expect(server.requests).toContain('HEAD /api/uploads/1');
    expect([...server.uploads.values()][0].data).toEqual(await readBlob(f));
  });

  it('starts over when the stored upload expired, and abort deletes it on the server', async () => {
    const server = new FakeServer();
    const store = new MemoryStore();
    store.setItem(fingerprint(file(5000), META), JSON.stringify({ url: '/api/uploads/99', kind: 'video', showId: '7' }));
    const up = new TusUpload(file(5000), META, deps(server, store), { chunkSize: 1000, onProgress: (s) => { if (s >= 2000) up.pause(); } });
    await expect(up.start()).rejects.toMatchObject({ code: 'paused' });
    expect(server.requests[0]).toBe('HEAD /api/uploads/99');
    expect(server.uploads.has('/api/uploads/1')).toBe(true);
    await up.abort();
    expect(server.uploads.size).toBe(0);
    expect(store.length).toBe(0);
  });

  it('reports refusals with the server message', async () => {
    const server = new FakeServer();
    server.fetch = async () => new Response(JSON.stringify({ error: 'Only the show\'s owner can add media to it.', code: 'forbidden' }), { status: 403 });
    const up = new TusUpload(file(10), META, deps(server, new MemoryStore()));
    await expect(up.start()).rejects.toMatchObject({ status: 403, code: 'forbidden', message: "Only the show's owner can add media to it." });
  });
});

describe('video source', () => {
  it('plays HLS where the browser can, else the MP4', async () => {
    const { videoSource } = await import('../pages/show/MediaTab');
    const rec = { id: 3, kind: 'video', url: '/api/videos/3', urls: { hls: '/api/videos/3/hls/master.m3u8' } } as never;
    expect(videoSource(rec, (t) => (t === 'application/vnd.apple.mpegurl' ? 'maybe' : ''))).toBe('/api/videos/3/hls/master.m3u8');
    expect(videoSource(rec, () => '')).toBe('/api/videos/3');
    expect(videoSource({ id: 3, kind: 'video', url: '/api/videos/3', urls: { hls: null } } as never, () => 'maybe')).toBe('/api/videos/3');
  });
});
