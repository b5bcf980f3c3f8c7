// The one HTTP client of the web app: same-origin fetch with cookies, CSRF double-submit header,
// contract error bodies turned into ApiError, silent session refresh (before the 5-minute access token
// expires, and once on a 401 then retry), a password prompt and retry on 403 reauthentication_required,
// XHR uploads with progress.

import { buildPath, operations, type Operation, type OperationId } from './operations';
import type { ErrorBody, FieldErrorDetail } from './types';

export type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  params?: Record<string, string | number>;
  query?: Record<string, QueryValue>;
  body?: unknown;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  headers: Headers;
}

/** Normalise a validation detail's `field` ("body.username", ["body","username"]) to "username". */
export function normaliseField(field: FieldErrorDetail['field']): string {
  if (field === null || field === undefined) return '';
  const parts = Array.isArray(field) ? field.map(String) : String(field).split('.');
  const meaningful = parts.filter((p) => p !== 'body' && p !== 'query' && p !== 'path' && p !== '__root__' && !/^\d+$/.test(p));
  return meaningful.length ? meaningful[meaningful.length - 1] : '';
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: FieldErrorDetail[];
  readonly retryAfter: number | null;

  constructor(status: number, body: Partial<ErrorBody>, retryAfter: number | null = null) {
    super(body.error || defaultMessage(status));
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code || (status === 0 ? 'network_error' : `http_${status}`);
    this.details = Array.isArray(body.details) ? body.details : [];
    this.retryAfter = retryAfter;
  }

  /** Field name -> message, for showing errors next to form fields. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of this.details) {
      const key = normaliseField(d.field);
      if (key && !out[key]) out[key] = d.message;
    }
    return out;
  }

  /** The message for the first of the given field names (aliases such as "login"/"username"). */
  forField(...names: string[]): string | undefined {
    const errs = this.fieldErrors();
    for (const n of names) if (errs[n]) return errs[n];
    return undefined;
  }

  /** True when every detail is attached to one of `knownFields` (so the summary need not repeat them). */
  onlyFieldErrors(knownFields: string[]): boolean {
    if (!this.details.length) return false;
    return this.details.every((d) => knownFields.includes(normaliseField(d.field)));
  }
}

function defaultMessage(status: number): string {
  if (status === 0) return 'Cannot reach the server. Check your connection and try again.';
  if (status === 401) return 'Please log in again.';
  if (status === 403) return 'You are not allowed to do that.';
  if (status === 404) return 'Not found, or not visible to you.';
  if (status === 413) return 'That file is too large.';
  if (status === 415) return 'That file type is not supported.';
  if (status === 429) return 'Too many attempts. Wait a moment and try again.';
  if (status >= 500) return `The service is unavailable right now (${status}). Try again in a moment.`;
  return `The request failed (${status}).`;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** 401s that are about what was typed, not about the session: refreshing would not help. */
const NOT_SESSION_PROBLEMS = new Set(['invalid_credentials', 'invalid_mfa_code', 'mfa_session_invalid']);
/** Refresh when this share of the access token's lifetime has passed. */
const REFRESH_AT = 0.8;

function codeOf(body: unknown): string | undefined {
  return body && typeof body === 'object' && typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : undefined;
}

/** `expires_in` of a session response (login, MFA, refresh, password change), if that is what `body` is. */
export function sessionLifetime(body: unknown): number | null {
  if (!body || typeof body !== 'object') return null;
  const b = body as { access_token?: unknown; expires_in?: unknown };
  return typeof b.access_token === 'string' && typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : null;
}

export function readCookie(name: string, cookieString: string = typeof document !== 'undefined' ? document.cookie : ''): string | null {
  for (const part of cookieString.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return null;
}

export function buildQuery(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    sp.append(k, String(v));
  }
  const s = sp.toString();
  return s ? `?${s}` : '';
}

function parseRetryAfter(v: string | null): number | null {
  if (!v) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

async function readBody(res: Response): Promise<unknown> {
  if (res.status === 204) return undefined;
  const text = await res.text();
  if (!text) return undefined;
  const ct = res.headers.get('content-type') || '';
  if (ct.includes('json') || /^[[{]/.test(text.trim())) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function errorFrom(status: number, body: unknown, retryAfter: number | null): ApiError {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    // FastAPI's bare {"detail": "..."} as a fallback, in case a route escapes the shared handler.
    const error = typeof b.error === 'string' ? b.error : typeof b.detail === 'string' ? b.detail : undefined;
    return new ApiError(status, { error, code: typeof b.code === 'string' ? b.code : undefined, details: b.details as FieldErrorDetail[] }, retryAfter);
  }
  return new ApiError(status, {}, retryAfter);
}

export interface UploadOptions {
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** Query parameters of the upload URL (the show goes there, so the server decides before the body). */
  query?: Record<string, QueryValue>;
}

export interface ClientDeps {
  fetch?: typeof fetch;
  createXhr?: () => XMLHttpRequest;
  getCookie?: (name: string) => string | null;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class ApiClient {
  private refreshing: Promise<boolean> | null = null;
  private authLost: (() => void) | null = null;
  private reauth: (() => Promise<boolean>) | null = null;
  private refreshTimer: unknown = null;
  private readonly deps: Required<ClientDeps>;

  constructor(deps: ClientDeps = {}) {
    this.deps = {
      fetch: deps.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a)),
      createXhr: deps.createXhr ?? (() => new XMLHttpRequest()),
      getCookie: deps.getCookie ?? ((n) => readCookie(n)),
      setTimer: deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimer: deps.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
    };
  }

  /** Called when the session is gone for good (refresh failed); the app routes to the login page. */
  onAuthLost(handler: (() => void) | null): void {
    this.authLost = handler;
  }

  /**
   * Called when a sensitive change answers 403 `reauthentication_required`: the app asks for the password
   * (POST /api/auth/reauthenticate) and resolves true to retry the change once, false to give up.
   */
  onReauthRequired(handler: (() => Promise<boolean>) | null): void {
    this.reauth = handler;
  }

  /** A session started or was refreshed: refresh it silently before its access token expires. */
  sessionStarted(expiresInSeconds: number): void {
    this.stopRefreshing();
    const ms = Math.max(5, expiresInSeconds * REFRESH_AT) * 1000;
    this.refreshTimer = this.deps.setTimer(() => {
      this.refreshTimer = null;
      void this.refresh();
    }, ms);
  }

  /** Stop the silent refresh (signed out). */
  stopRefreshing(): void {
    if (this.refreshTimer !== null) this.deps.clearTimer(this.refreshTimer);
    this.refreshTimer = null;
  }

  url(id: OperationId, opts: Pick<RequestOptions, 'params' | 'query'> = {}): string {
    return buildPath(id, opts.params) + buildQuery(opts.query);
  }

  csrfHeaders(method: string, path = ''): Record<string, string> {
    if (!UNSAFE.has(method)) return {};
    const token = (path.startsWith('/api/auth/refresh') && this.deps.getCookie('csrf_refresh_token')) || this.deps.getCookie('csrf_access_token');
    return token ? { 'X-CSRF-TOKEN': token } : {};
  }

  async call<T>(id: OperationId, opts: RequestOptions = {}): Promise<T> {
    return (await this.request<T>(id, opts)).data;
  }

  async request<T>(id: OperationId, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const op: Operation = operations[id];
    let res = await this.send<T>(op, this.url(id, opts), opts);
    if (res.status === 401 && !op.noRefresh && !NOT_SESSION_PROBLEMS.has(codeOf(res.body) ?? '')) {
      if (!(await this.refresh())) {
        this.authLost?.();
        return this.finish(res);
      }
      res = await this.send<T>(op, this.url(id, opts), opts);
      if (res.status === 401 && !NOT_SESSION_PROBLEMS.has(codeOf(res.body) ?? '')) this.authLost?.();
    }
    if (res.status === 403 && codeOf(res.body) === 'reauthentication_required' && this.reauth) {
      if (await this.reauth()) res = await this.send<T>(op, this.url(id, opts), opts);
    }
    const lifetime = res.ok ? sessionLifetime(res.body) : null;
    if (lifetime !== null) this.sessionStarted(lifetime);
    return this.finish(res);
  }

  /** POST /api/auth/refresh once at a time; concurrent 401s share the same attempt. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      const path = buildPath('authRefresh');
      this.refreshing = this.deps
        .fetch(path, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { Accept: 'application/json', ...this.csrfHeaders('POST', path) },
        })
        .then(async (r) => {
          if (!r.ok) {
            this.stopRefreshing();
            return false;
          }
          const lifetime = sessionLifetime(await readBody(r).catch(() => undefined));
          if (lifetime !== null) this.sessionStarted(lifetime);
          return true;
        })
        .catch(() => false)
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }

  private async send<T>(op: Operation, url: string, opts: RequestOptions): Promise<{ ok: boolean; status: number; headers: Headers; body: unknown; retryAfter: number | null } & { _t?: T }> {
    const headers: Record<string, string> = { Accept: 'application/json', ...this.csrfHeaders(op.method, url) };
    let body: BodyInit | undefined;
    if (opts.body instanceof FormData) body = opts.body;
    else if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await this.deps.fetch(url, { method: op.method, credentials: 'same-origin', headers, body, signal: opts.signal });
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      throw new ApiError(0, {});
    }
    const parsed = await readBody(res);
    return { ok: res.ok, status: res.status, headers: res.headers, body: parsed, retryAfter: parseRetryAfter(res.headers.get('Retry-After')) };
  }

  private finish<T>(r: { ok: boolean; status: number; headers: Headers; body: unknown; retryAfter: number | null }): ApiResponse<T> {
    if (!r.ok) throw errorFrom(r.status, r.body, r.retryAfter);
    return { data: r.body as T, status: r.status, headers: r.headers };
  }

  /** Multipart upload with XMLHttpRequest so the caller gets upload progress (0..1). */
  async upload<T>(id: OperationId, form: FormData, opts: UploadOptions = {}): Promise<T> {
    const op: Operation = operations[id];
    const url = this.url(id, { query: opts.query });
    const first = await this.xhrSend(op, url, form, opts);
    if (first.status !== 401) return this.finish<T>(first).data;
    if (!(await this.refresh())) {
      this.authLost?.();
      return this.finish<T>(first).data;
    }
    opts.onProgress?.(0);
    const second = await this.xhrSend(op, url, form, opts);
    if (second.status === 401) this.authLost?.();
    return this.finish<T>(second).data;
  }

  private xhrSend(op: Operation, url: string, form: FormData, opts: UploadOptions): Promise<{ ok: boolean; status: number; headers: Headers; body: unknown; retryAfter: number | null }> {
    return new Promise((resolve, reject) => {
      const xhr = this.deps.createXhr();
      xhr.open(op.method, url, true);
      xhr.withCredentials = true;
      xhr.setRequestHeader('Accept', 'application/json');
      for (const [k, v] of Object.entries(this.csrfHeaders(op.method, url))) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (ev: ProgressEvent) => {
        if (ev.lengthComputable && ev.total > 0) opts.onProgress?.(Math.min(1, ev.loaded / ev.total));
      };
      xhr.onload = () => {
        let body: unknown = undefined;
        const text = xhr.responseText;
        if (text) {
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
        }
        const headers = new Headers();
        const ra = xhr.getResponseHeader('Retry-After');
        if (xhr.status >= 200 && xhr.status < 300) opts.onProgress?.(1);
        resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, headers, body, retryAfter: parseRetryAfter(ra) });
      };
      xhr.onerror = () => reject(new ApiError(0, {}));
      xhr.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'));
      if (opts.signal) {
        if (opts.signal.aborted) {
          reject(new DOMException('Upload cancelled', 'AbortError'));
          return;
        }
        opts.signal.addEventListener('abort', () => xhr.abort(), { once: true });
      }
      xhr.send(form);
    });
  }
}

export const client = new ApiClient();
