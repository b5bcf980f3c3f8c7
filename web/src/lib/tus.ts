// A small tus 1.0 client (core + creation + termination) for the media uploads at /api/uploads.
// Neither tus-js-client nor @uppy/tus can be installed here (no registry access), and the protocol is small:
// create with POST, send chunks with PATCH at Upload-Offset, ask HEAD where to resume. The upload URL is kept
// in localStorage under a fingerprint of the file, so choosing the same file after a reload resumes it.

export const TUS_VERSION = '1.0.0';
export const DEFAULT_CHUNK = 4 * 1024 * 1024;
const STORE_PREFIX = 'tus::';
const RETRY_DELAYS_MS = [1000, 3000, 5000, 10000, 20000];

export interface TusFile {
  name: string;
  size: number;
  lastModified?: number;
  slice(start: number, end: number): Blob;
}

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
  readonly length: number;
  key(index: number): string | null;
}

export interface TusDeps {
  fetch: typeof fetch;
  store: KeyValueStore;
  /** Headers an unsafe request needs (the CSRF token of a cookie session). */
  headers: (method: string, url: string) => Record<string, string>;
  /** Refresh the session once after a 401; resolves whether it worked. */
  refresh: () => Promise<boolean>;
  sleep: (ms: number) => Promise<void>;
}

export interface PendingUpload {
  fingerprint: string;
  url: string;
  name: string;
  size: number;
  offset: number;
  kind: string;
  showId: string;
}

export class TusError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    /** Seconds the server asked to wait (429). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** Base64 of UTF-8 text (Upload-Metadata values). */
export function b64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function encodeMetadata(meta: Record<string, string>): string {
  return Object.entries(meta)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(',');
}

/** Same file, same destination: the same fingerprint (a reload finds its upload again). */
export function fingerprint(file: TusFile, meta: Record<string, string>): string {
  return `${STORE_PREFIX}${meta.kind ?? ''}:${meta.show_id ?? ''}:${file.name}:${file.size}:${file.lastModified ?? 0}`;
}

/** Uploads started in this browser and not finished (for a show and kind), to offer resuming them. */
export function pendingUploads(store: KeyValueStore, kind: string, showId: string): PendingUpload[] {
  const out: PendingUpload[] = [];
  for (let i = 0; i < store.length; i++) {
    const key = store.key(i);
    if (!key?.startsWith(STORE_PREFIX)) continue;
    try {
      const rec = JSON.parse(store.getItem(key) ?? '') as PendingUpload;
      if (rec.kind === kind && rec.showId === showId) out.push({ ...rec, fingerprint: key });
    } catch {
      store.removeItem(key);
    }
  }
  return out;
}

export interface TusOptions {
  endpoint?: string;
  chunkSize?: number;
  onProgress?: (sent: number, total: number) => void;
}

async function errorOf(res: Response): Promise<TusError> {
  let message = `The upload failed (${res.status}).`;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: string; code?: string };
    if (body.error) message = body.error;
    code = body.code;
  } catch {
    /* no JSON body */
  }
  const wait = Number(res.headers.get('Retry-After'));
  return new TusError(res.status, message, code, Number.isFinite(wait) && wait > 0 ? wait : undefined);
}

/** One file's resumable upload: `start()` (or resume), `pause()`, `abort()`. */
export class TusUpload {
  private url: string | null = null;
  private controller: AbortController | null = null;
  private paused = false;
  offset = 0;

  constructor(
    readonly file: TusFile,
    readonly meta: Record<string, string>,
    private readonly deps: TusDeps,
    private readonly opts: TusOptions = {},
  ) {}

  get fingerprint(): string {
    return fingerprint(this.file, this.meta);
  }

  /** Upload (or resume) until the last byte; resolves the media item's id. Rejects with TusError or 'paused'. */
  async start(): Promise<number> {
    this.paused = false;
    let failures = 0;
    for (;;) {
      try {
        return await this.run();
      } catch (e) {
        if (this.paused) throw new TusError(0, 'paused', 'paused');
        const status = e instanceof TusError ? e.status : 0;
        // Network gone (0), server busy or the upload locked by a dying request: wait and resume from HEAD.
        const transient = status === 0 || status === 423 || status === 409 || status >= 500;
        if (!transient || failures >= RETRY_DELAYS_MS.length) throw e;
        await this.deps.sleep(RETRY_DELAYS_MS[failures++]);
        if (this.paused) throw new TusError(0, 'paused', 'paused');
      }
    }
  }

  /** Stop sending (the bytes sent so far stay on the server; `start()` continues). */
  pause(): void {
    this.paused = true;
    this.controller?.abort();
  }

  /** Give up: the server drops what it stored and the browser forgets the upload. */
  async abort(): Promise<void> {
    this.pause();
    const url = this.url ?? this.stored()?.url;
    this.deps.store.removeItem(this.fingerprint);
    if (url) await this.send(url, 'DELETE', {});
  }

  private stored(): PendingUpload | null {
    try {
      return JSON.parse(this.deps.store.getItem(this.fingerprint) ?? 'null') as PendingUpload | null;
    } catch {
      return null;
    }
  }

  private remember(): void {
    if (!this.url) return;
    const rec: PendingUpload = {
      fingerprint: this.fingerprint, url: this.url, name: this.file.name, size: this.file.size, offset: this.offset,
      kind: this.meta.kind ?? '', showId: this.meta.show_id ?? '',
    };
    this.deps.store.setItem(this.fingerprint, JSON.stringify(rec));
  }

  private async send(url: string, method: string, headers: Record<string, string>, body?: Blob): Promise<Response> {
    const go = () => {
      this.controller = new AbortController();
      return this.deps.fetch(url, {
        method, body, credentials: 'same-origin', signal: this.controller.signal,
        headers: { 'Tus-Resumable': TUS_VERSION, ...this.deps.headers(method, url), ...headers },
      });
    };
    let res: Response;
    try {
      res = await go();
      if (res.status === 401 && (await this.deps.refresh())) res = await go();
    } catch {
      throw new TusError(0, 'The connection was lost.');
    }
    return res;
  }

  private async run(): Promise<number> {
    if (!this.url) {
      const known = this.stored();
      if (known) this.url = known.url;
    }
    if (this.url) {
      const head = await this.send(this.url, 'HEAD', {});
      if (head.status === 404 || head.status === 410) {
        this.url = null; // gone or expired: start over
        this.deps.store.removeItem(this.fingerprint);
      } else if (!head.ok) {
        throw new TusError(head.status, `The upload could not be resumed (${head.status}).`);
      } else {
        this.offset = Number(head.headers.get('Upload-Offset') ?? 0);
        const done = head.headers.get('X-Media-Id');
        if (done) return this.finish(Number(done));
      }
    }
    if (!this.url) {
      const endpoint = this.opts.endpoint ?? '/api/uploads';
      const res = await this.send(endpoint, 'POST', {
        'Upload-Length': String(this.file.size), 'Upload-Metadata': encodeMetadata(this.meta),
      });
      if (res.status !== 201) throw await errorOf(res);
      this.url = res.headers.get('Location');
      if (!this.url) throw new TusError(res.status, 'The server did not say where to upload.');
      this.offset = 0;
      this.remember();
    }
    const chunk = this.opts.chunkSize ?? DEFAULT_CHUNK;
    this.opts.onProgress?.(this.offset, this.file.size);
    for (;;) {
      const end = Math.min(this.offset + chunk, this.file.size);
      const res = await this.send(this.url, 'PATCH', {
        'Upload-Offset': String(this.offset), 'Content-Type': 'application/offset+octet-stream',
      }, this.file.slice(this.offset, end));
      if (res.status !== 204) throw await errorOf(res);
      this.offset = Number(res.headers.get('Upload-Offset') ?? end);
      this.remember();
      this.opts.onProgress?.(this.offset, this.file.size);
      const mediaId = res.headers.get('X-Media-Id');
      if (mediaId) return this.finish(Number(mediaId));
      if (this.paused) throw new TusError(0, 'paused', 'paused');
    }
  }

  private finish(mediaId: number): number {
    this.deps.store.removeItem(this.fingerprint);
    this.opts.onProgress?.(this.file.size, this.file.size);
    return mediaId;
  }
}
