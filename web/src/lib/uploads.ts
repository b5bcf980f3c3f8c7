// Resumable uploads to /api/uploads through tus-js-client, queued: many files at once (a phone folder), a few in
// flight, each with its own progress, pause/resume, errors, and the server's rate limit (429 + Retry-After)
// honoured. The upload URL of each file is kept in localStorage under a fingerprint of the file and its
// destination, so choosing the same file after a reload continues where the server stopped.
import * as tus from 'tus-js-client';
import type { HttpRequest, HttpResponse, HttpStack, PreviousUpload, UrlStorage } from 'tus-js-client';
import type { Id, MediaKind } from '../api/types';

export const CHUNK_SIZE = 4 * 1024 * 1024;
/** Files sent at the same time; the rest wait their turn (30+ files must not open 30 connections). */
export const CONCURRENCY = 3;
/** Waits between automatic retries of a dropped connection or a busy server (then the file shows an error). */
const RETRY_DELAYS_MS = [1000, 3000, 5000, 10000, 20000];
/** How often one file is tried again after the upload rate limit (429) said to wait. */
const MAX_RATE_RETRIES = 10;

export type UploadState = 'queued' | 'uploading' | 'paused' | 'waiting' | 'done' | 'error';

/** Where a file goes: a show, or the library (no show: the filing task puts it under the right show). */
export interface UploadTarget {
  showId?: Id | null;
  /** One kind for every file (a show's tab), or by each file's type when absent (library, folder). */
  kind?: MediaKind;
  /** More Upload-Metadata, e.g. caption or title. */
  extra?: Record<string, string>;
}

export interface QueueItem {
  key: string;
  name: string;
  size: number;
  kind: MediaKind;
  showId: string | null;
  progress: number;
  state: UploadState;
  error?: string;
  note?: string;
  mediaId?: string;
}

/** The part of tus.Upload the queue uses (tests may replace it). */
export interface UploadLike {
  start(): void;
  abort(shouldTerminate?: boolean): Promise<void>;
  findPreviousUploads(): Promise<PreviousUpload[]>;
  resumeFromPreviousUpload(previous: PreviousUpload): void;
}

export interface QueueDeps {
  endpoint: string;
  urlStorage: UrlStorage;
  httpStack: HttpStack;
  /** Headers an unsafe request needs (the CSRF token of a cookie session). */
  headers: (method: string, url: string) => Record<string, string>;
  /** Refresh the session once after a 401; resolves whether it worked. */
  refresh: () => Promise<boolean>;
  later: (fn: () => void, ms: number) => void;
  makeUpload?: (file: File, options: tus.UploadOptions) => UploadLike;
  chunkSize?: number;
  retryDelays?: number[];
}

export interface QueueOptions {
  concurrency?: number;
  onChange: (items: QueueItem[]) => void;
  /** The last byte is in: the server made the media item `mediaId`. */
  onDone?: (item: QueueItem) => void;
}

const EXT_KIND: Record<string, MediaKind> = {
  jpg: 'photo', jpeg: 'photo', png: 'photo', gif: 'photo', webp: 'photo', heic: 'photo', heif: 'photo',
  mp4: 'video', mov: 'video', m4v: 'video', mkv: 'video', webm: 'video', avi: 'video', '3gp': 'video',
  mp3: 'audio', m4a: 'audio', aac: 'audio', flac: 'audio', wav: 'audio', ogg: 'audio', opus: 'audio',
};

/** The media kind of a file by its type, else its extension; null for anything else (a folder's sidecar files). */
export function kindOf(file: { name: string; type?: string }): MediaKind | null {
  const type = file.type ?? '';
  if (type.startsWith('image/')) return 'photo';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  return EXT_KIND[file.name.split('.').pop()?.toLowerCase() ?? ''] ?? null;
}

/** Same file, same destination: the same fingerprint (a reload finds its upload again). */
export function fingerprintOf(file: File, kind: MediaKind, showId: string | null): string {
  return ['sms', kind, showId ?? 'library', file.name, file.type, file.size, file.lastModified].join('-');
}

export interface PendingUpload {
  urlStorageKey: string;
  uploadUrl: string | null;
  name: string;
  size: number | null;
  kind: string;
  createdAt: string;
}

/** Uploads started in this browser and not finished, for a show (or the library) and kind, to offer resuming. */
export async function pendingUploads(storage: UrlStorage, target: UploadTarget): Promise<PendingUpload[]> {
  const showId = target.showId == null ? '' : String(target.showId);
  const all = await storage.findAllUploads();
  return all
    .filter((u) => (u.metadata?.show_id ?? '') === showId && (!target.kind || u.metadata?.kind === target.kind))
    .map((u) => ({
      urlStorageKey: u.urlStorageKey, uploadUrl: u.uploadUrl, name: u.metadata?.filename ?? '?', size: u.size,
      kind: u.metadata?.kind ?? '', createdAt: u.creationTime,
    }));
}

/** The message of a refused upload: the contract's error body, else a sentence per status. */
export function uploadErrorMessage(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string' && parsed.error) return parsed.error;
  } catch {
    /* not JSON */
  }
  if (status === 0) return 'The connection was lost. Try again.';
  if (status === 413) return 'That file is too large, or your storage is full.';
  if (status === 415) return 'That file type is not supported.';
  if (status === 429) return 'Too many uploads at once. Try again in a moment.';
  if (status === 403) return 'You may not upload here.';
  return `The upload failed (${status}).`;
}

/** Seconds of a Retry-After header (delta-seconds or an HTTP date); null when absent or unreadable. */
export function retryAfterSeconds(value: string | undefined | null, now = Date.now()): number | null {
  if (!value) return null;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(0, n);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - now) / 1000)) : null;
}

interface Entry {
  file: File;
  extra: Record<string, string>;
  upload: UploadLike | null;
  rateRetries: number;
  refreshed: boolean;
}

export class UploadQueue {
  private items: QueueItem[] = [];
  private readonly entries = new Map<string, Entry>();
  private readonly concurrency: number;
  private seq = 0;

  constructor(
    private readonly deps: QueueDeps,
    private readonly opts: QueueOptions,
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? CONCURRENCY);
  }

  get list(): QueueItem[] {
    return this.items;
  }

  /** Queue files; returns how many were skipped because they are not a photo, video or recording. */
  add(files: File[], target: UploadTarget): number {
    let skipped = 0;
    const showId = target.showId == null ? null : String(target.showId);
    const fresh: QueueItem[] = [];
    for (const file of files) {
      const kind = target.kind ?? kindOf(file);
      if (!kind) {
        skipped++;
        continue;
      }
      const key = `u${++this.seq}-${file.name}`;
      this.entries.set(key, { file, extra: target.extra ?? {}, upload: null, rateRetries: 0, refreshed: false });
      fresh.push({ key, name: file.name, size: file.size, kind, showId, progress: 0, state: 'queued' });
    }
    this.items = [...this.items, ...fresh];
    this.changed();
    this.pump();
    return skipped;
  }

  /** Stop sending one file (what the server has stays; `resume` continues from there). */
  pause(key: string): void {
    const item = this.find(key);
    if (!item || (item.state !== 'uploading' && item.state !== 'queued')) return;
    const upload = this.entries.get(key)?.upload;
    this.patch(key, { state: 'paused', note: 'Paused' });
    if (upload) void upload.abort(false);
    this.pump();
  }

  resume(key: string): void {
    const item = this.find(key);
    if (!item || (item.state !== 'paused' && item.state !== 'error')) return;
    this.patch(key, { state: 'queued', note: undefined, error: undefined });
    this.pump();
  }

  private find(key: string): QueueItem | undefined {
    return this.items.find((it) => it.key === key);
  }

  private patch(key: string, p: Partial<QueueItem>): void {
    this.items = this.items.map((it) => (it.key === key ? { ...it, ...p } : it));
    this.changed();
  }

  private changed(): void {
    this.opts.onChange(this.items);
  }

  private pump(): void {
    let running = this.items.filter((it) => it.state === 'uploading').length;
    for (const it of this.items) {
      if (running >= this.concurrency) break;
      if (it.state !== 'queued') continue;
      running++;
      this.begin(it);
    }
  }

  private begin(item: QueueItem): void {
    const entry = this.entries.get(item.key);
    if (!entry) return;
    this.patch(item.key, { state: 'uploading', note: undefined, error: undefined });
    if (entry.upload) {
      entry.upload.start(); // the same tus.Upload knows its URL: HEAD, then the rest
      return;
    }
    const upload = this.create(item, entry);
    entry.upload = upload;
    upload
      .findPreviousUploads()
      .then((previous) => {
        // a reload interrupted this file: continue at the server's offset rather than from byte 0
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.find(item.key)?.state === 'uploading') upload.start();
      });
  }

  private create(item: QueueItem, entry: Entry): UploadLike {
    const { deps } = this;
    const key = item.key;
    const metadata: Record<string, string> = { filename: entry.file.name, filetype: entry.file.type, kind: item.kind };
    if (item.showId) metadata.show_id = item.showId;
    for (const [k, v] of Object.entries(entry.extra)) if (v) metadata[k] = v;
    const options: tus.UploadOptions = {
      endpoint: deps.endpoint,
      metadata,
      chunkSize: deps.chunkSize ?? CHUNK_SIZE,
      retryDelays: deps.retryDelays ?? RETRY_DELAYS_MS,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      urlStorage: deps.urlStorage,
      httpStack: deps.httpStack,
      fingerprint: (file: File) => Promise.resolve(fingerprintOf(file, item.kind, item.showId)),
      onBeforeRequest: (req: HttpRequest) => {
        for (const [k, v] of Object.entries(deps.headers(req.getMethod(), req.getURL()))) req.setHeader(k, v);
      },
      onAfterResponse: async (_req: HttpRequest, res: HttpResponse) => {
        // the last PATCH (or the HEAD of an upload finished before a reload) names the media item
        const mediaId = res.getHeader('X-Media-Id');
        if (mediaId) this.patch(key, { mediaId });
        if (res.getStatus() === 401 && !entry.refreshed) entry.refreshed = await deps.refresh();
      },
      onShouldRetry: (err: tus.DetailedError, attempt: number) => {
        const status = err.originalResponse?.getStatus() ?? 0;
        if (status === 401) {
          const again = entry.refreshed && attempt === 0;
          return again;
        }
        // network gone, server busy, or the upload locked by a request that is still dying
        return status === 0 || status >= 500 || status === 409 || status === 423;
      },
      onProgress: (sent: number, total: number) => {
        if (this.find(key)?.state === 'uploading') this.patch(key, { progress: total ? sent / total : 1 });
      },
      onSuccess: () => {
        this.patch(key, { state: 'done', progress: 1 });
        const done = this.find(key);
        if (done) this.opts.onDone?.(done);
        this.pump();
      },
      onError: (err: Error) => this.failed(key, entry, err),
    };
    return deps.makeUpload ? deps.makeUpload(entry.file, options) : new tus.Upload(entry.file, options);
  }

  private failed(key: string, entry: Entry, err: Error): void {
    if (this.find(key)?.state !== 'uploading') return; // paused meanwhile
    const res = (err as tus.DetailedError).originalResponse;
    const status = res?.getStatus() ?? 0;
    if (status === 429 && entry.rateRetries < MAX_RATE_RETRIES) {
      // many files at once can pass the upload rate: wait as long as the server says, without holding a slot
      entry.rateRetries++;
      const wait = retryAfterSeconds(res?.getHeader('Retry-After')) ?? 5;
      this.patch(key, { state: 'waiting', note: `Waiting ${wait} s (upload limit)` });
      this.deps.later(() => {
        if (this.find(key)?.state !== 'waiting') return;
        this.patch(key, { state: 'queued', note: undefined });
        this.pump();
      }, wait * 1000);
    } else {
      this.patch(key, { state: 'error', error: uploadErrorMessage(status, res?.getBody() ?? '') });
    }
    this.pump();
  }
}

/** tus-js-client's HTTP over the app's fetch (same-origin cookies, one transport to fake in tests). */
export class FetchHttpStack implements HttpStack {
  getName(): string {
    return 'FetchHttpStack';
  }

  createRequest(method: string, url: string): HttpRequest {
    return new FetchRequest(method, url);
  }
}

class FetchRequest implements HttpRequest {
  private readonly headers: Record<string, string> = {};
  private readonly controller = new AbortController();
  private onProgress: (bytesSent: number) => void = () => undefined;

  constructor(
    private readonly method: string,
    private readonly url: string,
  ) {}

  getMethod(): string {
    return this.method;
  }

  getURL(): string {
    return this.url;
  }

  setHeader(header: string, value: string): void {
    this.headers[header] = value;
  }

  getHeader(header: string): string | undefined {
    return this.headers[header];
  }

  setProgressHandler(handler: (bytesSent: number) => void): void {
    this.onProgress = handler;
  }

  async send(body: Blob | null = null): Promise<HttpResponse> {
    const res = await fetch(this.url, {
      method: this.method, headers: this.headers, body, credentials: 'same-origin', signal: this.controller.signal,
    });
    // fetch reports no upload progress: the chunk counts once the server answered
    if (body && res.ok) this.onProgress(body.size);
    const text = this.method === 'HEAD' ? '' : await res.text().catch(() => '');
    return new FetchResponse(res, text);
  }

  abort(): Promise<void> {
    this.controller.abort();
    return Promise.resolve();
  }

  getUnderlyingObject(): unknown {
    return this.controller;
  }
}

class FetchResponse implements HttpResponse {
  constructor(
    private readonly res: Response,
    private readonly body: string,
  ) {}

  getStatus(): number {
    return this.res.status;
  }

  getHeader(header: string): string | undefined {
    return this.res.headers.get(header) ?? undefined;
  }

  getBody(): string {
    return this.body;
  }

  getUnderlyingObject(): unknown {
    return this.res;
  }
}

/** The browser's URL store (localStorage), or one in memory where storage is blocked (private mode). */
export function browserUrlStorage(): UrlStorage {
  if (tus.canStoreURLs) return tus.defaultOptions.urlStorage;
  const map = new Map<string, PreviousUpload>();
  let n = 0;
  return {
    findAllUploads: () => Promise.resolve([...map.values()]),
    findUploadsByFingerprint: (fp) => Promise.resolve([...map.entries()].filter(([k]) => k.startsWith(`tus::${fp}::`)).map(([, v]) => v)),
    removeUpload: (k) => Promise.resolve(void map.delete(k)),
    addUpload: (fp, upload) => {
      const k = `tus::${fp}::${++n}`;
      map.set(k, { ...upload, urlStorageKey: k });
      return Promise.resolve(k);
    },
  };
}
