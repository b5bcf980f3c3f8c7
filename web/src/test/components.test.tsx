import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import type { Me, ShowDetail } from '../api/types';
import { AuthProvider } from '../auth';
import { BarChart } from '../components/BarChart';
import { UploadPanel } from '../components/UploadPanel';
import { CommentsTab } from '../pages/show/CommentsTab';
import { LiveTab } from '../pages/show/LiveTab';
import { MediaTab } from '../pages/show/MediaTab';
import { SetlistTab } from '../pages/show/SetlistTab';
import { fakeFetch } from './fakes';

const me: Me = { id: 1, username: 'ann', email: 'ann@example.com', email_verified: true, mfa_enabled: false, mfa_method: null, created_at: '2026-01-01T00:00:00Z' };

const baseShow: ShowDetail = {
  id: 7,
  user_id: 1,
  is_owner: true,
  artist_name: 'Arctic Monkeys',
  venue_name: 'Madison Square Garden',
  date: '2024-10-15',
  visibility: 'friends',
  setlist: [
    { id: 11, order: 1, title: 'Do I Wanna Know?' },
    { id: 12, order: 2, title: 'Brianstorm' },
    { id: 13, order: 3, title: '505' },
  ],
};

function go(path: string) {
  window.history.replaceState(null, '', path);
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('App routing with guards', () => {
  beforeEach(() => sessionStorage.clear());

  it('sends a signed-out visitor of /shows to the login page, remembering where they were going', async () => {
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/auth\/me/, () => ({ status: 401, body: { error: 'Not logged in.', code: 'not_authenticated' } })],
      ['POST', /refresh/, () => ({ status: 401, body: { error: 'No refresh token.' } })],
    ]);
    vi.stubGlobal('fetch', fn);
    go('/shows?year=2024');
    render(<App />);
    expect(await screen.findByTestId('login-form')).toBeTruthy();
    expect(window.location.pathname).toBe('/login');
    expect(new URLSearchParams(window.location.search).get('next')).toBe('/shows?year=2024');
    expect(calls.filter((c) => c.url.includes('refresh'))).toHaveLength(1);
  });

  it('shows a failed login next to the form (error field of the body) and stays on the page', async () => {
    const { fn } = fakeFetch([
      ['GET', /\/api\/auth\/me/, () => ({ status: 401, body: { error: 'Not logged in.' } })],
      ['POST', /refresh/, () => ({ status: 401, body: { error: 'no' } })],
      ['POST', /\/api\/auth\/login/, () => ({ status: 401, body: { error: 'Wrong username or password.', code: 'invalid_credentials' } })],
    ]);
    vi.stubGlobal('fetch', fn);
    go('/login');
    render(<App />);
    fireEvent.change(await screen.findByTestId('login-username'), { target: { value: 'ann' } });
    fireEvent.change(screen.getByTestId('login-password'), { target: { value: 'wrong password here' } });
    fireEvent.click(screen.getByTestId('login-submit'));
    expect((await screen.findByTestId('login-error')).textContent).toBe('Wrong username or password.');
    expect(window.location.pathname).toBe('/login');
  });

  it('goes through the MFA step with the mfa_token from the login response', async () => {
    let signedIn = false;
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/auth\/me/, () => (signedIn ? { body: me } : { status: 401, body: { error: 'Not logged in.' } })],
      ['POST', /refresh/, () => ({ status: 401, body: { error: 'no' } })],
      ['POST', /\/api\/auth\/login/, () => ({ body: { mfa_required: true, mfa_token: 'mfa-tok', methods: ['totp'], message: 'Enter the code from your authenticator app.' } })],
      ['POST', /verify-mfa/, (c) => {
        if ((c.body as { code: string }).code !== '123456') return { status: 401, body: { error: 'That code is not valid.', code: 'invalid_code' } };
        signedIn = true;
        return { body: { user: me, access_token: 'a', refresh_token: 'r', mfa_required: false } };
      }],
      ['GET', /\/api\//, () => ({ body: [] })],
    ]);
    vi.stubGlobal('fetch', fn);
    go('/login');
    render(<App />);
    fireEvent.change(await screen.findByTestId('login-username'), { target: { value: 'ann@example.com' } });
    fireEvent.change(screen.getByTestId('login-password'), { target: { value: 'correct horse battery staple' } });
    fireEvent.click(screen.getByTestId('login-submit'));
    const code = await screen.findByTestId('mfa-code');
    expect(window.location.pathname).toBe('/login/mfa');
    fireEvent.change(code, { target: { value: '000000' } });
    fireEvent.click(screen.getByTestId('mfa-submit'));
    expect((await screen.findByTestId('mfa-error')).textContent).toBe('That code is not valid.');
    fireEvent.change(code, { target: { value: '123 456' } });
    fireEvent.click(screen.getByTestId('mfa-submit'));
    await screen.findByTestId('dashboard');
    expect(window.location.pathname).toBe('/dashboard');
    const verify = calls.filter((c) => c.url.endsWith('/verify-mfa'));
    expect(verify[1].body).toEqual({ code: '123456', mfa_token: 'mfa-tok' });
  });

  it('shows the password rule error from the API next to the password field on sign up', async () => {
    const { fn } = fakeFetch([
      ['GET', /\/api\/auth\/me/, () => ({ status: 401, body: { error: 'Not logged in.' } })],
      ['POST', /refresh/, () => ({ status: 401, body: { error: 'no' } })],
      ['POST', /register/, () => ({ status: 422, body: { error: 'Choose another password.', code: 'validation_error', details: [{ field: 'password', message: 'This password is too common.' }] } })],
    ]);
    vi.stubGlobal('fetch', fn);
    go('/register');
    render(<App />);
    fireEvent.change(await screen.findByTestId('register-username'), { target: { value: 'ann' } });
    fireEvent.change(screen.getByTestId('register-email'), { target: { value: 'ann@example.com' } });
    fireEvent.change(screen.getByTestId('register-password'), { target: { value: 'passwordpassword' } });
    fireEvent.change(screen.getByTestId('register-confirm'), { target: { value: 'passwordpassword' } });
    fireEvent.click(screen.getByTestId('register-submit'));
    expect((await screen.findByTestId('register-password-error')).textContent).toBe('This password is too common.');
    expect(screen.getByTestId('register-password').getAttribute('aria-invalid')).toBe('true');
  });
});

describe('Sign up with an authenticator app', () => {
  it('registers, signs in, shows the QR code and secret, confirms the first code and lists recovery codes', async () => {
    let signedIn = false;
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/auth\/me/, () => (signedIn ? { body: { ...me, mfa_enabled: true, mfa_method: 'totp' } } : { status: 401, body: { error: 'Not logged in.' } })],
      ['POST', /refresh/, () => ({ status: 401, body: { error: 'no' } })],
      ['POST', /register/, () => ({ status: 201, body: { user: { id: 1, username: 'ann' }, message: 'Account created. Check your email.', totp_uri: 'otpauth://totp/ShareMyShows:ann?secret=JBSWY3DPEHPK3PXP&issuer=ShareMyShows', totp_secret: 'JBSWY3DPEHPK3PXP' } })],
      ['POST', /\/api\/auth\/login/, () => {
        signedIn = true;
        return { body: { user: me, access_token: 'a', refresh_token: 'r', mfa_required: false } };
      }],
      ['POST', /reauthenticate/, () => ({ body: { message: 'Thanks.', reauth_until: '2026-01-01T00:05:00Z' } })],
      ['POST', /mfa\/enable/, () => ({ body: { message: 'Two-step verification is on.', recovery_codes: ['abcd-efgh', 'ijkl-mnop'] } })],
      ['GET', /\/api\//, () => ({ body: [] })],
    ]);
    vi.stubGlobal('fetch', fn);
    go('/register');
    render(<App />);
    fireEvent.change(await screen.findByTestId('register-username'), { target: { value: 'ann' } });
    fireEvent.change(screen.getByTestId('register-email'), { target: { value: 'ann@example.com' } });
    fireEvent.change(screen.getByTestId('register-password'), { target: { value: 'correct horse battery staple' } });
    fireEvent.change(screen.getByTestId('register-confirm'), { target: { value: 'correct horse battery staple' } });
    fireEvent.change(screen.getByTestId('register-mfa'), { target: { value: 'totp' } });
    fireEvent.click(screen.getByTestId('register-submit'));
    expect((await screen.findByTestId('totp-secret')).textContent).toBe('JBSWY3DPEHPK3PXP');
    await waitFor(() => expect(screen.getByTestId('totp-qr').querySelector('svg')).not.toBeNull());
    fireEvent.change(screen.getByTestId('totp-confirm-code'), { target: { value: '123456' } });
    fireEvent.click(screen.getByTestId('totp-confirm-submit'));
    expect((await screen.findByTestId('recovery-codes')).textContent).toContain('abcd-efgh');
    fireEvent.click(screen.getByTestId('register-continue'));
    await screen.findByTestId('dashboard');
    expect(calls.find((c) => c.url.endsWith('/register'))?.body).toEqual({ username: 'ann', email: 'ann@example.com', password: 'correct horse battery staple', mfa_method: 'totp' });
    expect(calls.find((c) => c.url.endsWith('/mfa/enable'))?.body).toEqual({ code: '123456', method: 'totp' });
    // enrolling needs a fresh password check: the page uses the password just typed (no second prompt)
    expect(calls.find((c) => c.url.endsWith('/reauthenticate'))?.body).toEqual({ password: 'correct horse battery staple' });
  });

  it('asks for the password when a change needs it, then retries the change', async () => {
    let reauthenticated = false;
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/auth\/me/, () => ({ body: me })],
      ['GET', /\/api\/auth\/sessions/, () => ({ body: { sessions: [], total: 0 } })],
      ['POST', /mfa\/setup/, () => (reauthenticated
        ? { body: { method: 'email', message: 'We sent a 6-digit code to your email.' } }
        : { status: 403, body: { error: 'Confirm it is you.', code: 'reauthentication_required' } })],
      ['POST', /reauthenticate/, (c) => {
        if ((c.body as { password?: string }).password !== 'my real password here') {
          return { status: 401, body: { error: 'The password or code is not correct.', code: 'invalid_credentials' } };
        }
        reauthenticated = true;
        return { body: { message: 'Thanks.', reauth_until: '2026-01-01T00:05:00Z' } };
      }],
      ['GET', /\/api\//, () => ({ body: [] })],
    ]);
    vi.stubGlobal('fetch', fn);
    go('/settings');
    render(<App />);
    fireEvent.click(await screen.findByTestId('mfa-setup-email'));
    fireEvent.change(await screen.findByTestId('reauth-password'), { target: { value: 'not my password at all' } });
    fireEvent.click(screen.getByTestId('reauth-submit'));
    expect((await screen.findByTestId('reauth-error')).textContent).toBe('The password or code is not correct.');
    expect(window.location.pathname).toBe('/settings'); // a wrong password is not a lost session
    fireEvent.change(screen.getByTestId('reauth-password'), { target: { value: 'my real password here' } });
    fireEvent.click(screen.getByTestId('reauth-submit'));
    await screen.findByTestId('mfa-email-code');
    expect(screen.queryByTestId('reauth-dialog')).toBeNull();
    expect(calls.filter((c) => c.url.endsWith('/mfa/setup'))).toHaveLength(2);
  });

  it("secures the account from a mailed link only after the person confirms", async () => {
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/auth\/me/, () => ({ status: 401, body: { error: 'Not logged in.', code: 'not_authenticated' } })],
      ['POST', /refresh/, () => ({ status: 401, body: { error: 'no' } })],
      ['POST', /secure-account/, () => ({ body: { message: 'Your account is secured.' } })],
    ]);
    vi.stubGlobal('fetch', fn);
    go('/secure-account?token=tok123');
    render(<App />);
    const button = await screen.findByTestId('secure-submit');
    expect(calls.filter((c) => c.url.includes('secure-account'))).toHaveLength(0); // opening the link changes nothing
    fireEvent.click(button);
    expect((await screen.findByTestId('secure-done')).textContent).toBe('Your account is secured.');
    expect(calls.find((c) => c.url.endsWith('/secure-account'))?.body).toEqual({ token: 'tok123' });
  });
});

describe('SetlistTab', () => {
  it('moves a song with the keyboard buttons and tells the API its new position', async () => {
    const { fn, calls } = fakeFetch([
      ['PUT', /\/api\/shows\/7\/setlist\/11$/, () => ({ body: { id: 11, order: 2, title: 'Do I Wanna Know?' } })],
      ['GET', /\/api\/shows\/7\/setlist$/, () => ({ body: [
        { id: 12, order: 1, title: 'Brianstorm' },
        { id: 11, order: 2, title: 'Do I Wanna Know?' },
        { id: 13, order: 3, title: '505' },
      ] })],
    ]);
    vi.stubGlobal('fetch', fn);
    const onChanged = vi.fn();
    render(
      <AuthProvider initialUser={me}>
        <SetlistTab show={baseShow} onChanged={onChanged} />
      </AuthProvider>,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Move Do I Wanna Know? down' }));
    const titles = () => screen.getAllByTestId('setlist-song-title').map((e) => e.textContent);
    expect(titles()).toEqual(['Brianstorm', 'Do I Wanna Know?', '505']);
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
    const put = calls.find((c) => c.method === 'PUT');
    expect(put?.body).toEqual({ order: 2 });
    expect((screen.getByRole('button', { name: 'Move Brianstorm up' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('adds a cover with a guest and shows field errors from the API', async () => {
    const { fn, calls } = fakeFetch([
      ['POST', /\/api\/shows\/7\/setlist$/, (c) => ((c.body as { title: string }).title === 'x'.repeat(3) ? { status: 422, body: { error: 'Invalid song.', details: [{ field: 'body.title', message: 'Title is too short.' }] } } : { status: 201, body: { id: 20 } })],
      ['GET', /setlist$/, () => ({ body: { setlist: [...baseShow.setlist!, { id: 20, order: 4, title: 'I Wanna Be Yours', is_cover: true, original_artist: 'John Cooper Clarke' }] } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(
      <AuthProvider initialUser={me}>
        <SetlistTab show={baseShow} onChanged={() => undefined} />
      </AuthProvider>,
    );
    fireEvent.change(screen.getByTestId('song-title'), { target: { value: 'xxx' } });
    fireEvent.click(screen.getByTestId('song-add'));
    expect((await screen.findByTestId('song-title-error')).textContent).toBe('Title is too short.');
    fireEvent.change(screen.getByTestId('song-title'), { target: { value: 'I Wanna Be Yours' } });
    fireEvent.change(screen.getByTestId('song-duration'), { target: { value: '3:04' } });
    fireEvent.click(screen.getByTestId('song-cover'));
    fireEvent.change(screen.getByTestId('song-original-artist'), { target: { value: 'John Cooper Clarke' } });
    fireEvent.click(screen.getByTestId('song-add'));
    await waitFor(() => expect(screen.getAllByTestId('setlist-song')).toHaveLength(4));
    const post = calls.filter((c) => c.method === 'POST').pop();
    expect(post?.body).toMatchObject({ title: 'I Wanna Be Yours', duration: '3:04', is_cover: true, original_artist: 'John Cooper Clarke' });
  });
});

/** A tus server behind fakeFetch: creation, PATCH appends (absolute URLs: tus-js-client resolves them). */
function tusServer(opts: { refuse?: Record<string, { status: number; body: unknown; headers?: Record<string, string> }> } = {}) {
  const uploads = new Map<string, { name: string; length: number; offset: number; id: number }>();
  let next = 1;
  const refuse = { ...(opts.refuse ?? {}) };
  const nameOf = (meta: string) => {
    const pair = meta.split(',').find((p) => p.startsWith('filename '));
    return pair ? atob(pair.split(' ')[1]) : '';
  };
  const path = (url: string) => new URL(url, window.location.href).pathname;
  const fake = fakeFetch([
    ['POST', /\/api\/uploads$/, (c) => {
      const name = nameOf(c.headers['upload-metadata'] ?? '');
      const no = refuse[name];
      if (no) {
        delete refuse[name];
        return no;
      }
      const url = `/api/uploads/${next}`;
      uploads.set(url, { name, length: Number(c.headers['upload-length']), offset: 0, id: next++ });
      return { status: 201, headers: { Location: url } };
    }],
    ['PATCH', /\/api\/uploads\/\d+$/, async (c) => {
      const up = uploads.get(path(c.url))!;
      up.offset += (c.body as Blob).size;
      const headers: Record<string, string> = { 'Upload-Offset': String(up.offset) };
      if (up.offset === up.length) headers['X-Media-Id'] = String(up.id);
      return { status: 204, headers };
    }],
    ['GET', /^\/api\/photos\/\d+\?meta=1$/, (c) => ({ body: { id: Number(c.url.split('/')[3].split('?')[0]), status: 'processing', kind: 'photo' } })],
  ]);
  return { ...fake, uploads };
}

describe('uploads and processing', () => {
  it('uploads each file resumably with its own progress bar and error', async () => {
    const server = tusServer({ refuse: { 'b.jpg': { status: 415, body: { error: 'Only JPEG, PNG, GIF, WebP or HEIC photos.', code: 'unsupported_media_type' } } } });
    vi.stubGlobal('fetch', server.fn);
    const uploaded = vi.fn();
    render(<UploadPanel kind="photo" showId={7} onUploaded={uploaded} />);
    const input = screen.getByTestId('upload-photo-input') as HTMLInputElement;
    const files = [new File(['aaaa'], 'a.jpg', { type: 'image/jpeg' }), new File(['b'], 'b.jpg', { type: 'image/jpeg' })];
    Object.defineProperty(input, 'files', { value: files, configurable: true });
    fireEvent.click(screen.getByTestId('upload-photo-submit'));
    expect(screen.getAllByTestId('upload-progress')).toHaveLength(2);
    expect((await screen.findByTestId('upload-error')).textContent).toBe('Only JPEG, PNG, GIF, WebP or HEIC photos.');
    await waitFor(() => expect(uploaded).toHaveBeenCalledWith(expect.objectContaining({ id: 1 })));
    const rows = screen.getAllByTestId('upload-item');
    const done = rows.find((r) => r.textContent?.includes('a.jpg'))!;
    expect(done.getAttribute('data-state')).toBe('done');
    expect((done.querySelector('progress') as HTMLProgressElement).value).toBe(100);
    const create = server.calls.find((c) => c.method === 'POST')!;
    // the show and the kind are named at creation, so the server refuses before a byte is sent
    expect(create.headers['tus-resumable']).toBe('1.0.0');
    expect(create.headers['upload-length']).toBe('4');
    expect(create.headers['upload-metadata']).toContain(`show_id ${btoa('7')}`);
    expect(create.headers['upload-metadata']).toContain(`kind ${btoa('photo')}`);
    await waitFor(() => expect(window.localStorage.length).toBe(0)); // finished uploads are forgotten
  });

  it('lists uploads a reload interrupted (tus-js-client’s stored URLs) and forgets one on request', async () => {
    const { fn, calls } = fakeFetch([['DELETE', /\/api\/uploads\/9$/, () => ({ status: 204 })]]);
    vi.stubGlobal('fetch', fn);
    const stored = { size: 100, metadata: { filename: 'encore.mp4', kind: 'video', show_id: '7' }, creationTime: '', uploadUrl: 'http://localhost:3000/api/uploads/9' };
    window.localStorage.setItem('tus::sms-video-7-encore.mp4::1', JSON.stringify(stored));
    window.localStorage.setItem('tus::sms-video-8-other.mp4::2', JSON.stringify({ ...stored, metadata: { ...stored.metadata, show_id: '8', filename: 'other.mp4' } }));
    try {
      render(<UploadPanel kind="video" showId={7} onUploaded={vi.fn()} />);
      expect((await screen.findByTestId('upload-pending-name')).textContent).toBe('encore.mp4');
      expect(screen.getAllByTestId('upload-pending-item')).toHaveLength(1);
      fireEvent.click(screen.getByTestId('upload-pending-forget'));
      await waitFor(() => expect(screen.queryByTestId('upload-pending-item')).toBeNull());
      expect(calls.map((c) => c.method)).toEqual(['DELETE']);
      expect(window.localStorage.getItem('tus::sms-video-7-encore.mp4::1')).toBeNull();
    } finally {
      window.localStorage.clear();
    }
  });

  it('uploads a phone folder to the library: no show in the metadata', async () => {
    const server = tusServer();
    vi.stubGlobal('fetch', server.fn);
    render(<UploadPanel onUploaded={vi.fn()} />);
    const folder = screen.getByTestId('upload-library-folder') as HTMLInputElement;
    expect(folder.hasAttribute('webkitdirectory')).toBe(true);
    Object.defineProperty(folder, 'files', { value: [new File(['x'], 'IMG_1.jpg', { type: 'image/jpeg' }), new File(['x'], 'notes.txt', { type: 'text/plain' })], configurable: true });
    fireEvent.change(folder);
    expect((await screen.findByTestId('upload-skipped')).textContent).toContain('1 file skipped');
    await waitFor(() => expect(screen.getByTestId('upload-item').getAttribute('data-state')).toBe('done'));
    const meta = server.calls.find((c) => c.method === 'POST')!.headers['upload-metadata'];
    expect(meta).toContain(`kind ${btoa('photo')}`);
    expect(meta).not.toContain('show_id');
  });

  it('polls a processing photo until it is ready, then shows its thumbnail', async () => {
    let polls = 0;
    const { fn } = fakeFetch([
      ['GET', /\/api\/photos\/show\/7/, () => ({ body: { photos: [{ id: 3, show_id: 7, user_id: 1, kind: 'photo', status: 'processing', created_at: '' }], total: 1 } })],
      ['GET', /\/api\/photos\/3\?meta=1/, () => ({ body: { id: 3, show_id: 7, user_id: 1, kind: 'photo', status: ++polls > 1 ? 'ready' : 'processing', thumbnail_url: '/api/photos/3/thumbnail', placeholder: null, created_at: '' } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(
      <AuthProvider initialUser={me}>
        <MediaTab kind="photo" show={{ ...baseShow, photos: [] }} onCount={() => undefined} />
      </AuthProvider>,
    );
    expect(await screen.findByTestId('media-processing')).toBeTruthy();
    const img = (await screen.findByTestId('photo-thumb', {}, { timeout: 6000 })) as HTMLImageElement;
    expect(img.getAttribute('src')).toBe('/api/photos/3/thumbnail?size=small');
    expect(polls).toBeGreaterThanOrEqual(2);
  }, 10000);

  it('shows a failed video with its reason and a ready video with poster and same-origin source', async () => {
    const { fn } = fakeFetch([
      ['GET', /\/api\/videos\/show\/7/, () => ({ body: { recordings: [
        { id: 1, show_id: 7, user_id: 1, kind: 'video', status: 'failed', error: 'No video stream in this file.', created_at: '' },
        { id: 2, show_id: 7, user_id: 1, kind: 'video', status: 'ready', url: '/api/videos/2', urls: { poster: '/api/videos/2/thumbnail' }, created_at: '' },
        { id: 3, show_id: 7, user_id: 1, kind: 'video', status: 'processing', progress: 42, created_at: '' },
      ], total: 3 } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(
      <AuthProvider initialUser={me}>
        <MediaTab kind="video" show={baseShow} onCount={() => undefined} />
      </AuthProvider>,
    );
    expect((await screen.findByTestId('media-failed')).textContent).toContain('No video stream in this file.');
    const video = screen.getByTestId('video-element') as HTMLVideoElement;
    expect(video.getAttribute('src')).toBe('/api/videos/2');
    expect(video.getAttribute('poster')).toBe('/api/videos/2/thumbnail');
    expect((screen.getByTestId('processing-progress') as HTMLProgressElement).value).toBe(42);
  });
});

describe('CommentsTab permissions', () => {
  const comments = [
    { id: 1, show_id: 7, user: { id: 1, username: 'ann' }, text: 'mine', created_at: '2026-01-01T00:00:00Z' },
    { id: 2, show_id: 7, user: { id: 2, username: 'bob' }, text: 'theirs', created_at: '2026-01-01T00:00:00Z' },
  ];
  const mount = (isOwner: boolean) => {
    const { fn } = fakeFetch([['GET', /comments\/show\/7/, () => ({ body: { comments, total: 2 } })]]);
    vi.stubGlobal('fetch', fn);
    return render(
      <AuthProvider initialUser={me}>
        <CommentsTab show={{ ...baseShow, is_owner: isOwner }} onCount={() => undefined} />
      </AuthProvider>,
    );
  };
  it('offers edit/delete only on your own comments when you do not own the show', async () => {
    mount(false);
    const [mine, theirs] = await screen.findAllByTestId('comment');
    expect(within(mine).queryByTestId('comment-edit')).not.toBeNull();
    expect(within(mine).queryByTestId('comment-delete')).not.toBeNull();
    expect(within(theirs).queryByTestId('comment-edit')).toBeNull();
    expect(within(theirs).queryByTestId('comment-delete')).toBeNull();
  });
  it('lets the show owner delete anyone’s comment (but edit only their own)', async () => {
    mount(true);
    const [, theirs] = await screen.findAllByTestId('comment');
    expect(within(theirs).queryByTestId('comment-delete')).not.toBeNull();
    expect(within(theirs).queryByTestId('comment-edit')).toBeNull();
  });
});

describe('LiveTab', () => {
  it('shows error frames next to the input and sends message frames', async () => {
    const sockets: { url: string; sent: string[]; ws: { onopen?: () => void; onmessage?: (e: { data: string }) => void } }[] = [];
    class WS {
      readyState = 0;
      onopen: (() => void) | null = null;
      onmessage: ((e: { data: string }) => void) | null = null;
      onclose: (() => void) | null = null;
      sent: string[] = [];
      constructor(public url: string) {
        sockets.push({ url, sent: this.sent, ws: this as never });
      }
      send(d: string) {
        this.sent.push(d);
      }
      close() {}
    }
    vi.stubGlobal('WebSocket', WS);
    const { fn } = fakeFetch([['GET', /active-users/, () => ({ body: { users: [], total: 0 } })]]);
    vi.stubGlobal('fetch', fn);
    render(
      <AuthProvider initialUser={me}>
        <LiveTab show={baseShow} />
      </AuthProvider>,
    );
    await waitFor(() => expect(sockets).toHaveLength(1));
    expect(sockets[0].url).toMatch(/^ws:\/\/[^/]+\/api\/chat\/show\/7\/ws$/);
    const ws = sockets[0].ws as unknown as WS;
    act(() => {
      ws.readyState = 1;
      ws.onopen?.();
      ws.onmessage?.({ data: JSON.stringify({ type: 'history', messages: [{ id: 1, user: { id: 2, username: 'bob' }, message: 'anyone here?', created_at: '2026-01-01T20:00:00Z' }] }) });
      ws.onmessage?.({ data: JSON.stringify({ type: 'presence', users: [{ id: 2, username: 'bob' }] }) });
    });
    expect(screen.getAllByTestId('chat-message')).toHaveLength(1);
    expect(screen.getByTestId('chat-present').textContent).toContain('bob');
    fireEvent.change(screen.getByTestId('chat-input'), { target: { value: 'front row!' } });
    fireEvent.click(screen.getByTestId('chat-send'));
    expect(sockets[0].sent.map((s) => JSON.parse(s)).filter((f) => f.type === 'message')).toEqual([{ type: 'message', message: 'front row!' }]);
    act(() => ws.onmessage?.({ data: JSON.stringify({ type: 'error', error: 'You are sending messages too fast.', code: 'rate_limited' }) }));
    expect(screen.getByTestId('chat-error').textContent).toBe('You are sending messages too fast.');
    expect(screen.getByTestId('chat-input').getAttribute('aria-describedby')).toBe('chat-error');
  });
});

describe('BarChart', () => {
  it('draws one bar per year with an accessible summary', () => {
    render(<BarChart data={[{ year: '2023', count: 2 }, { year: '2024', count: 5 }]} />);
    const fig = screen.getByTestId('chart-shows-per-year');
    expect(fig.querySelectorAll('rect')).toHaveLength(2);
    expect(fig.querySelector('svg')?.getAttribute('aria-label')).toBe('Shows per year: 2023: 2, 2024: 5');
  });
});
