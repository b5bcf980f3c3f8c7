import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Me } from '../api/types';
import { AuthProvider } from '../auth';
import { SettingsPage } from '../pages/Settings';
import { fakeFetch } from './fakes';

afterEach(() => vi.unstubAllGlobals());

const me = { id: 1, username: 'ann b', email: 'ann@example.test', email_verified: true } as unknown as Me;

describe('the public profile setting', () => {
  it('is off by default, turns on and links to the public profile', async () => {
    let on = false;
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/friends\/settings$/, () => ({ body: { findable_by_email: false } })],
      ['GET', /\/api\/me\/usage$/, () => ({ body: { bytes_used: 0, bytes_quota: 1, items: 0 } })],
      ['GET', /\/api\/users\/me\/profile-settings$/, () => ({ body: { public_profile: on } })],
      ['PUT', /\/api\/users\/me\/profile-settings$/, (c) => {
        on = (c.body as { public_profile: boolean }).public_profile;
        return { body: { public_profile: on } };
      }],
    ]);
    vi.stubGlobal('fetch', fn);
    render(
      <AuthProvider initialUser={me}>
        <SettingsPage />
      </AuthProvider>,
    );
    const box = (await screen.findByTestId('public-profile')) as HTMLInputElement;
    await waitFor(() => expect(box.disabled).toBe(false));
    expect(box.checked).toBe(false);
    expect(screen.queryByTestId('public-profile-link')).toBeNull();
    fireEvent.click(box);
    const link = await screen.findByTestId('public-profile-link');
    expect(link.getAttribute('href')).toBe('/u/ann%20b');
    expect(calls.some((c) => c.method === 'PUT' && (c.body as { public_profile: boolean }).public_profile)).toBe(true);
  });
});

describe('the share button', () => {
  it('lets the owner pick their ready photos for the public page', async () => {
    const { ShareButton } = await import('../components/ShareButton');
    const photo = (id: number, user: number, status = 'ready') => ({ id, show_id: 5, user_id: user, kind: 'photo', status, thumbnail_url: `/t/${id}` });
    const { fn, calls } = fakeFetch([
      ['POST', /\/api\/shows\/5\/share-links$/, () => ({ status: 201, body: { id: 1, show_id: 5, token_prefix: 'tok', created_at: '', expires_at: null, photo_ids: [], token: 'tok123', url: 'http://x/s/tok123' } })],
      ['GET', /\/api\/photos\/show\/5/, () => ({ body: { photos: [photo(11, 1), photo(12, 2), photo(13, 1, 'processing')], total: 3 } })],
      ['PUT', /\/api\/share-links\/tok123$/, (c) => ({ body: { id: 1, show_id: 5, token_prefix: 'tok', created_at: '', expires_at: null, photo_ids: (c.body as { photo_ids: number[] }).photo_ids } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(<ShareButton showId={5} ownerId={1} />);
    fireEvent.click(screen.getByTestId('share-create'));
    const boxes = await screen.findAllByTestId('share-photo');
    expect(boxes).toHaveLength(1); // only the owner's ready photo
    fireEvent.click(boxes[0]);
    await waitFor(() => expect((screen.getByTestId('share-photo') as HTMLInputElement).checked).toBe(true));
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ photo_ids: [11] });
  });
});
