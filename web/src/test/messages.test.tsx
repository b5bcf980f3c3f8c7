import { render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Me } from '../api/types';
import { AuthProvider } from '../auth';
import { MessagesPage } from '../pages/Messages';
import { fakeFetch } from './fakes';

afterEach(() => vi.unstubAllGlobals());

const me = { id: 1, username: 'ann', email: 'ann@example.test', email_verified: true } as unknown as Me;
const dm = (id: number, from: number, read: string | null = null) => ({
  id, sender: { id: from, username: from === 1 ? 'ann' : 'ben' }, recipient: { id: from === 1 ? 2 : 1, username: from === 1 ? 'ben' : 'ann' },
  text: `message ${id}`, created_at: '2026-12-06T12:00:00Z', read_at: read,
});

describe('MessagesPage', () => {
  it('lists conversations, shows the thread, marks it read', async () => {
    class WS {
      onopen: (() => void) | null = null;
      onmessage: ((e: { data: string }) => void) | null = null;
      onclose: (() => void) | null = null;
      constructor(public url: string) {}
      send() {}
      close() {}
    }
    vi.stubGlobal('WebSocket', WS);
    const { fn, calls } = fakeFetch([
      ['GET', /\/api\/messages$/, () => ({ body: { conversations: [{ user: { id: 2, username: 'ben' }, last_message: dm(2, 2), unread: 1, can_send: true }], total: 1 } })],
      ['GET', /\/api\/messages\/2/, () => ({ body: { messages: [dm(1, 1, '2026-12-06T12:01:00Z'), dm(2, 2)], has_more: false, can_send: true } })],
      ['POST', /\/api\/messages\/2\/read/, () => ({ body: { marked: 1 } })],
    ]);
    vi.stubGlobal('fetch', fn);
    render(
      <AuthProvider initialUser={me}>
        <MessagesPage params={{ id: '2' }} />
      </AuthProvider>,
    );
    await waitFor(() => expect(screen.getAllByTestId('dm')).toHaveLength(2));
    await waitFor(() => expect(calls.some((c) => c.url.endsWith('/api/messages/2/read'))).toBe(true));
    await new Promise((r) => setTimeout(r, 200));
    expect(screen.getByTestId('thread').textContent).toContain('message 2');
    expect(screen.getAllByTestId('conversation')[0].textContent).toContain('ben');
  });
});

describe('the whole app on /messages/2', () => {
  it('renders the shell with the bell and the thread, with live frames', async () => {
    const { App } = await import('../App');
    const sockets: WS2[] = [];
    class WS2 {
      onopen: (() => void) | null = null;
      onmessage: ((e: { data: string }) => void) | null = null;
      onclose: ((e: { code: number; reason: string }) => void) | null = null;
      constructor(public url: string) {
        sockets.push(this);
      }
      send() {}
      close() {}
    }
    vi.stubGlobal('WebSocket', WS2);
    const errors: unknown[] = [];
    const onErr = (e: ErrorEvent) => errors.push(e.error);
    window.addEventListener('error', onErr);
    const { fn } = fakeFetch([
      ['GET', /\/api\/auth\/me/, () => ({ body: me })],
      ['GET', /\/api\/messages$/, () => ({ body: { conversations: [{ user: { id: 2, username: 'ben' }, last_message: dm(2, 2), unread: 1, can_send: true }], total: 1 } })],
      ['GET', /\/api\/messages\/2/, () => ({ body: { messages: [dm(2, 2)], has_more: false, can_send: true } })],
      ['POST', /\/api\/messages\/2\/read/, () => ({ body: { marked: 1 } })],
    ]);
    vi.stubGlobal('fetch', fn);
    window.history.replaceState(null, '', '/messages/2');
    render(<App />);
    await waitFor(() => expect(screen.getAllByTestId('dm')).toHaveLength(1));
    for (const s of sockets) {
      s.onopen?.();
      s.onmessage?.({ data: JSON.stringify({ type: 'hello', unread: 2 }) });
      s.onmessage?.({ data: JSON.stringify({ type: 'message', message: dm(3, 2) }) });
    }
    await waitFor(() => expect(screen.getAllByTestId('dm')).toHaveLength(2));
    expect(screen.getByTestId('notif-badge').textContent).toBe('2');
    window.removeEventListener('error', onErr);
    expect(errors).toEqual([]);
  });
});
