import { describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, buildQuery, normaliseField, readCookie } from './client';
import { FakeXhr, fakeFetch } from '../test/fakes';

/** Resolve with the ApiError a promise rejects with (fails the test if it resolves). */
const fail = (p: Promise<unknown>): Promise<ApiError> => p.then(() => { throw new Error('expected a failure'); }, (e: ApiError) => e);

const cookie = (name: string) => (name === 'csrf_access_token' ? 'csrf-123' : null);

describe('ApiClient basics', () => {
  it('sends X-CSRF-TOKEN from the readable cookie on unsafe methods only, with same-origin credentials', async () => {
    const { fn, calls } = fakeFetch([
      ['POST', /\/api\/shows$/, () => ({ status: 201, body: { id: 1 } })],
      ['GET', /\/api\/shows\/1$/, () => ({ body: { id: 1 } })],
    ]);
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    await c.call('showsCreate', { body: { artist_name: 'A' } });
    await c.call('showsGet', { params: { id: 1 } });
    expect(calls[0].headers['x-csrf-token']).toBe('csrf-123');
    expect(calls[0].headers['content-type']).toBe('application/json');
    expect(calls[0].body).toEqual({ artist_name: 'A' });
    expect(calls[1].headers['x-csrf-token']).toBeUndefined();
    expect(fn.mock.calls[0][1]?.credentials).toBe('same-origin');
  });

  it('reads cookies by exact name and decodes them', () => {
    expect(readCookie('csrf_access_token', 'a=1; csrf_access_token=x%3Dy; csrf_access_token_old=z')).toBe('x=y');
    expect(readCookie('missing', 'a=1')).toBeNull();
  });

  it('builds query strings without empty values and encodes path params', async () => {
    expect(buildQuery({ q: 'a b', year: 2024, empty: '', none: undefined })).toBe('?q=a+b&year=2024');
    const { fn, calls } = fakeFetch([['GET', /./, () => ({ body: [] })]]);
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    await c.call('showsGet', { params: { id: 'a/b' } });
    expect(calls[0].url).toBe('/api/shows/a%2Fb');
  });
});

describe('error parsing', () => {
  it('turns the contract error body into ApiError with field errors', async () => {
    const { fn } = fakeFetch([
      ['POST', /register/, () => ({ status: 422, body: { error: 'Check the highlighted fields.', code: 'validation_error', details: [{ field: 'body.password', message: 'Use at least 15 characters.' }, { field: ['body', 'username'], message: 'Taken.' }] } })],
    ]);
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    const err = await fail(c.call('authRegister', { body: {} }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.message).toBe('Check the highlighted fields.');
    expect(err.code).toBe('validation_error');
    expect(err.fieldErrors()).toEqual({ password: 'Use at least 15 characters.', username: 'Taken.' });
    expect(err.forField('login', 'username')).toBe('Taken.');
    expect(err.onlyFieldErrors(['password', 'username'])).toBe(true);
    expect(err.onlyFieldErrors(['password'])).toBe(false);
  });

  it('gives words for non-JSON failures and network errors, and keeps Retry-After', async () => {
    const fn = vi.fn(async () => new Response('<html>bad gateway</html>', { status: 502, headers: { 'Content-Type': 'text/html' } }));
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    const e1 = await fail(c.call('showsList'));
    expect(e1.message).toMatch(/unavailable/);
    const down = new ApiClient({ fetch: (async () => { throw new TypeError('Failed to fetch'); }) as unknown as typeof fetch, getCookie: cookie });
    const e2 = await fail(down.call('showsList'));
    expect(e2.status).toBe(0);
    expect(e2.message).toMatch(/Cannot reach the server/);
    const limited = fakeFetch([['POST', /login/, () => ({ status: 429, body: { error: 'Too many login attempts. Try again in 30 seconds.', code: 'rate_limited' }, headers: { 'Retry-After': '30' } })]]);
    const e3 = await fail(new ApiClient({ fetch: limited.fn as unknown as typeof fetch, getCookie: cookie }).call('authLogin', { body: {} }));
    expect(e3.retryAfter).toBe(30);
    expect(e3.message).toBe('Too many login attempts. Try again in 30 seconds.');
  });

  it('normalises validation field paths', () => {
    expect(normaliseField('body.artist_name')).toBe('artist_name');
    expect(normaliseField(['body', 'setlist', 0, 'title'])).toBe('title');
    expect(normaliseField(null)).toBe('');
  });
});

describe('401 handling', () => {
  it('refreshes once and retries the request', async () => {
    let n = 0;
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/auth\/me$/, () => (n++ === 0 ? { status: 401, body: { error: 'expired', code: 'token_expired' } } : { body: { id: 1, username: 'ann' } })],
      ['POST', /\/api\/auth\/refresh$/, () => ({ body: { access_token: 'x' } })],
    ]);
    const lost = vi.fn();
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    c.onAuthLost(lost);
    await expect(c.call('authMe')).resolves.toEqual({ id: 1, username: 'ann' });
    expect(calls.map((x) => `${x.method} ${x.url}`)).toEqual(['GET /api/auth/me', 'POST /api/auth/refresh', 'GET /api/auth/me']);
    expect(calls[1].headers['x-csrf-token']).toBe('csrf-123');
    expect(lost).not.toHaveBeenCalled();
  });

  it('reports the session lost when the refresh fails, without looping', async () => {
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/shows/, () => ({ status: 401, body: { error: 'Please log in.', code: 'not_authenticated' } })],
      ['POST', /refresh/, () => ({ status: 401, body: { error: 'Refresh token expired.' } })],
    ]);
    const lost = vi.fn();
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    c.onAuthLost(lost);
    const err = await fail(c.call('showsList'));
    expect(err.status).toBe(401);
    expect(err.message).toBe('Please log in.');
    expect(calls).toHaveLength(2);
    expect(lost).toHaveBeenCalledTimes(1);
  });

  it('shares one refresh between concurrent 401s', async () => {
    let refreshes = 0;
    const fresh = new Set<string>();
    const { fn } = fakeFetch([
      ['POST', /refresh/, async () => {
        refreshes++;
        await new Promise((r) => setTimeout(r, 5));
        fresh.add('yes');
        return { body: {} };
      }],
      ['GET', /\/api\/dashboard/, () => (fresh.size ? { body: { ok: true } } : { status: 401, body: { error: 'expired' } })],
    ]);
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    const r = await Promise.all([c.call('dashboardStats'), c.call('dashboardArtists'), c.call('dashboardVenues')]);
    expect(r).toHaveLength(3);
    expect(refreshes).toBe(1);
  });

  it('never refreshes or redirects on a failed login: the error body is shown', async () => {
    const { fn, calls } = fakeFetch([['POST', /login/, () => ({ status: 401, body: { error: 'Wrong username or password.', code: 'invalid_credentials' } })]]);
    const lost = vi.fn();
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    c.onAuthLost(lost);
    const err = await fail(c.call('authLogin', { body: { login: 'a', password: 'b' } }));
    expect(err.message).toBe('Wrong username or password.');
    expect(calls).toHaveLength(1);
    expect(lost).not.toHaveBeenCalled();
  });
});

describe('uploads', () => {
  it('reports per-file progress and returns the record', async () => {
    FakeXhr.instances = [];
    const c = new ApiClient({ createXhr: () => new FakeXhr() as unknown as XMLHttpRequest, getCookie: cookie });
    const progress: number[] = [];
    const form = new FormData();
    const p = c.upload('photosUpload', form, { onProgress: (f) => progress.push(f) });
    await Promise.resolve();
    const x = FakeXhr.instances[0];
    expect(x.method).toBe('POST');
    expect(x.url).toBe('/api/photos');
    expect(x.headers['X-CSRF-TOKEN']).toBe('csrf-123');
    expect(x.body).toBe(form);
    x.progress(25, 100);
    x.progress(100, 100);
    x.respond(201, { id: 9, status: 'processing' });
    await expect(p).resolves.toEqual({ id: 9, status: 'processing' });
    expect(progress).toEqual([0.25, 1, 1]);
  });

  it('puts the show in the query string so the server can refuse before the body', async () => {
    FakeXhr.instances = [];
    const c = new ApiClient({ createXhr: () => new FakeXhr() as unknown as XMLHttpRequest, getCookie: cookie });
    const p = c.upload('photosUpload', new FormData(), { query: { show_id: '7' } });
    await Promise.resolve();
    expect(FakeXhr.instances[0].url).toBe('/api/photos?show_id=7');
    FakeXhr.instances[0].respond(201, { id: 1 });
    await expect(p).resolves.toEqual({ id: 1 });
  });

  it('turns upload errors into ApiError (413 with the server sentence)', async () => {
    FakeXhr.instances = [];
    const c = new ApiClient({ createXhr: () => new FakeXhr() as unknown as XMLHttpRequest, getCookie: cookie });
    const p = c.upload('videosUpload', new FormData());
    await Promise.resolve();
    FakeXhr.instances[0].respond(413, { error: 'Videos may be at most 4 GB.', code: 'payload_too_large' });
    const err = await fail(p);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(413);
    expect(err.message).toBe('Videos may be at most 4 GB.');
  });

  it('refreshes once on a 401 upload and sends it again', async () => {
    FakeXhr.instances = [];
    const { fn } = fakeFetch([['POST', /refresh/, () => ({ body: {} })]]);
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, createXhr: () => new FakeXhr() as unknown as XMLHttpRequest, getCookie: cookie });
    const p = c.upload('audioUpload', new FormData());
    await Promise.resolve();
    FakeXhr.instances[0].respond(401, { error: 'expired' });
    await vi.waitFor(() => expect(FakeXhr.instances).toHaveLength(2));
    FakeXhr.instances[1].respond(201, { id: 3 });
    await expect(p).resolves.toEqual({ id: 3 });
  });
});

describe('silent refresh and step-up', () => {
  it('refreshes before the access token expires, and again after each refresh', async () => {
    const timers: { fn: () => void; ms: number }[] = [];
    const { fn, calls } = fakeFetch([
      ['POST', /\/api\/auth\/login$/, () => ({ body: { user: { id: 1 }, access_token: 'a', refresh_token: 'r', expires_in: 300, mfa_required: false } })],
      ['POST', /\/api\/auth\/refresh$/, () => ({ body: { access_token: 'b', refresh_token: 'r2', expires_in: 300 } })],
    ]);
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie, setTimer: (f, ms) => timers.push({ fn: f, ms }), clearTimer: () => undefined });
    await c.call('authLogin', { body: { login: 'a', password: 'b' } });
    expect(timers.map((t) => t.ms)).toEqual([240_000]); // 80 % of 5 minutes
    timers[0].fn();
    await vi.waitFor(() => expect(timers).toHaveLength(2));
    expect(calls.map((x) => x.url)).toEqual(['/api/auth/login', '/api/auth/refresh']);
  });

  it('does not refresh when the 401 is about what was typed (a wrong current password)', async () => {
    const { fn, calls } = fakeFetch([
      ['POST', /mfa\/disable/, () => ({ status: 401, body: { error: 'The password or code is not correct.', code: 'invalid_credentials' } })],
    ]);
    const lost = vi.fn();
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    c.onAuthLost(lost);
    const err = await fail(c.call('authMfaDisable', { body: { password: 'nope' } }));
    expect(err.code).toBe('invalid_credentials');
    expect(calls).toHaveLength(1);
    expect(lost).not.toHaveBeenCalled();
  });

  it('asks for the password on 403 reauthentication_required and retries the change once', async () => {
    let confirmed = false;
    const { fn, calls } = fakeFetch([
      ['POST', /mfa\/setup/, () => (confirmed ? { body: { method: 'totp', totp_uri: 'otpauth://x' } } : { status: 403, body: { error: 'Confirm it is you.', code: 'reauthentication_required' } })],
    ]);
    const c = new ApiClient({ fetch: fn as unknown as typeof fetch, getCookie: cookie });
    const ask = vi.fn(async () => {
      confirmed = true; // the dialog posted /reauthenticate
      return true;
    });
    c.onReauthRequired(ask);
    await expect(c.call('authMfaSetup', { body: { method: 'totp' } })).resolves.toEqual({ method: 'totp', totp_uri: 'otpauth://x' });
    expect(ask).toHaveBeenCalledTimes(1);
    expect(calls).toHaveLength(2);
    // cancelled: the 403 comes back as the error
    confirmed = false;
    c.onReauthRequired(async () => false);
    const err = await fail(c.call('authMfaSetup', { body: { method: 'totp' } }));
    expect(err.status).toBe(403);
    expect(err.code).toBe('reauthentication_required');
  });
});
