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
