import { describe, expect, it, vi } from 'vitest';
import { ChatConnection, applyFrame, closeMessage, mergeMessages, socketUrl, type ChatState } from './chat';

const empty: ChatState = { messages: [], present: [], typing: [], error: null, connected: false };
const msg = (id: number, text = `m${id}`, user = { id: 1, username: 'ann' }) => ({ id, user, message: text, created_at: `2026-01-01T00:00:0${id % 10}Z` });

describe('chat frames', () => {
  it('applies history, message, presence, typing and error frames', () => {
    let s = applyFrame(empty, { type: 'history', messages: [msg(2), msg(1)] });
    expect(s.messages.map((m) => m.id)).toEqual([1, 2]);
    s = applyFrame(s, { type: 'message', message: msg(3, 'hi') });
    s = applyFrame(s, { type: 'message', ...msg(4, 'inline') });
    s = applyFrame(s, { type: 'message', message: msg(3, 'hi') });
    expect(s.messages.map((m) => m.id)).toEqual([1, 2, 3, 4]);
    s = applyFrame(s, { type: 'presence', users: [{ id: 1, username: 'ann' }, { user_id: 2, username: 'bob' }] });
    expect(s.present.map((u) => u.username)).toEqual(['ann', 'bob']);
    s = applyFrame(s, { type: 'presence', action: 'leave', user: { id: 2, username: 'bob' } });
    expect(s.present.map((u) => u.username)).toEqual(['ann']);
    s = applyFrame(s, { type: 'presence', event: 'join', user: { id: 3, username: 'cy' } });
    expect(s.present.map((u) => u.username)).toEqual(['ann', 'cy']);
    s = applyFrame(s, { type: 'typing', user: { id: 3, username: 'cy' } }, 1);
    s = applyFrame(s, { type: 'typing', user: { id: 1, username: 'ann' } }, 1);
    expect(s.typing).toEqual(['cy']);
    s = applyFrame(s, { type: 'error', error: 'Slow down: 5 messages per 10 seconds.', code: 'rate_limited' });
    expect(s.error).toBe('Slow down: 5 messages per 10 seconds.');
    s = applyFrame(s, { type: 'message', message: msg(5, 'x', { id: 3, username: 'cy' }) });
    expect(s.typing).toEqual([]);
    expect(s.error).toBeNull();
    expect(applyFrame(s, { type: 'unknown' })).toBe(s);
  });

  it('merges by id in id order', () => {
    expect(mergeMessages([msg(1), msg(3)], [msg(2), msg(3, 'edited')]).map((m) => [m.id, m.message])).toEqual([
      [1, 'm1'],
      [2, 'm2'],
      [3, 'edited'],
    ]);
  });

  it('builds same-origin ws URLs with ?after=', () => {
    expect(socketUrl('/api/chat/show/4/ws', null, { protocol: 'http:', host: 'localhost:5000' })).toBe('ws://localhost:5000/api/chat/show/4/ws');
    expect(socketUrl('/api/chat/show/4/ws', 17, { protocol: 'https:', host: 'x.example' })).toBe('wss://x.example/api/chat/show/4/ws?after=17');
  });
});

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(d: string) {
    this.sent.push(d);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  frame(f: unknown) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop(code = 1006, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

describe('ChatConnection', () => {
  it('sends message frames and reconnects with the last seen id', () => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    const states: ChatState[] = [];
    const c = new ChatConnection({ path: '/api/chat/show/9/ws', onState: (s) => states.push(s), createSocket: (u) => new FakeSocket(u) as unknown as WebSocket });
    c.start();
    const a = FakeSocket.all[0];
    expect(a.url).toMatch(/\/api\/chat\/show\/9\/ws$/);
    expect(c.send('too early')).toBe(false);
    a.open();
    a.frame({ type: 'history', messages: [msg(1), msg(2)] });
    expect(c.send('hello')).toBe(true);
    expect(JSON.parse(a.sent[0])).toEqual({ type: 'message', message: 'hello' });
    a.frame('not json at all');
    a.drop();
    expect(c.state.connected).toBe(false);
    vi.advanceTimersByTime(600);
    const b = FakeSocket.all[1];
    expect(b.url).toMatch(/\?after=2$/);
    b.open();
    b.frame({ type: 'message', message: msg(3) });
    expect(c.state.messages.map((m) => m.id)).toEqual([1, 2, 3]);
    c.stop();
    vi.advanceTimersByTime(20000);
    expect(FakeSocket.all).toHaveLength(2);
    vi.useRealTimers();
  });

  it('refreshes the session once on 4401 and reconnects', async () => {
    FakeSocket.all = [];
    let refreshes = 0;
    const c = new ChatConnection({ path: '/x', onState: () => undefined, createSocket: (u) => new FakeSocket(u) as unknown as WebSocket, refreshSession: async () => ++refreshes === 1 });
    c.start();
    FakeSocket.all[0].drop(4401, 'Your session has expired; sign in again.');
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(2));
    FakeSocket.all[1].drop(4401, 'Your session has expired; sign in again.');
    await new Promise((r) => setTimeout(r, 10));
    expect(FakeSocket.all).toHaveLength(2);
    expect(refreshes).toBe(1);
    expect(c.state.error).toBe('Your session has expired; sign in again.');
    c.stop();
  });

  it('stops retrying when the server refuses the user, and says why', () => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    const c = new ChatConnection({ path: '/x', onState: () => undefined, createSocket: (u) => new FakeSocket(u) as unknown as WebSocket });
    c.start();
    FakeSocket.all[0].drop(4403, 'Check in or log this show to chat.');
    vi.advanceTimersByTime(30000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(c.state.error).toBe('Check in or log this show to chat.');
    c.stop();
    vi.useRealTimers();
  });
});

describe('closes that take the grant away', () => {
  it('shows the server reason, or words of its own, and does not reconnect', () => {
    expect(closeMessage(4403, 'You no longer have access to this show.')).toBe('You no longer have access to this show.');
    expect(closeMessage(4401, '')).toBe('You were signed out.');
    expect(closeMessage(4403, '')).toBe('You no longer have access to this show.');
    expect(closeMessage(1013, '')).toBeNull();
  });

  it('4403 after unfriending: the reason is shown and no reconnect is scheduled', () => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    const c = new ChatConnection({ path: '/api/chat/show/9/ws', onState: () => undefined, createSocket: (u) => new FakeSocket(u) as unknown as WebSocket });
    c.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].drop(4403, 'You no longer have access to this show.');
    expect(c.state.error).toBe('You no longer have access to this show.');
    expect(c.state.reconnecting).toBe(false);
    vi.advanceTimersByTime(30_000);
    expect(FakeSocket.all).toHaveLength(1);
    vi.useRealTimers();
  });

  it('4401 on an expired token refreshes and reconnects; on a revoked session says so', async () => {
    FakeSocket.all = [];
    let refreshOk = true;
    const c = new ChatConnection({ path: '/api/chat/show/9/ws', onState: () => undefined, createSocket: (u) => new FakeSocket(u) as unknown as WebSocket, refreshSession: async () => refreshOk });
    c.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].drop(4401, 'Your session expired; sign in again.');
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(2));
    FakeSocket.all[1].open();
    refreshOk = false;
    FakeSocket.all[1].drop(4401, 'You were signed out.');
    await vi.waitFor(() => expect(c.state.error).toBe('You were signed out.'));
    expect(FakeSocket.all).toHaveLength(2);
    c.stop();
  });
});
