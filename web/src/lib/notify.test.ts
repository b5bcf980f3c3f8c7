import { describe, expect, it } from 'vitest';
import type { AppNotification, DirectMessage } from '../api/types';
import { notificationLink } from '../components/NotificationBell';
import { mergeDirect } from '../pages/Messages';
import { applyNotifyFrame, initialNotifyState, NotifyConnection } from './notify';

const note = (id: number, extra: Partial<AppNotification> = {}): AppNotification => ({
  id, type: 'comment', actor: { id: 2, username: 'ben' }, show_id: 5, concert_id: 50, media_id: null,
  text: 'ben commented on your show', created_at: '2026-12-06T12:00:00Z', read_at: null, ...extra,
});

describe('notifications socket state', () => {
  it('takes the unread count from hello and counts each new notification once', () => {
    let s = applyNotifyFrame(initialNotifyState, { type: 'hello', unread: 3 });
    expect(s.unread).toBe(3);
    s = applyNotifyFrame(s, { type: 'notification', notification: note(10) });
    s = applyNotifyFrame(s, { type: 'notification', notification: note(10) });
    expect(s.unread).toBe(4);
    expect(s.recent.map((n) => n.id)).toEqual([10]);
    expect(s.toast?.id).toBe(10);
    expect(applyNotifyFrame(s, { type: 'pong' })).toBe(s);
  });

  it('links each type where it belongs', () => {
    expect(notificationLink(note(1))).toBe('/shows/5?tab=comments');
    expect(notificationLink(note(1, { type: 'friend_request', show_id: null }))).toBe('/friends');
    expect(notificationLink(note(1, { type: 'friend_checkin' }))).toBe('/shows/5?tab=live');
    expect(notificationLink(note(1, { type: 'media_ready' }))).toBe('/shows/5');
  });

  it('hands direct messages to the page and reconnects after a drop', () => {
    const sockets: Array<Record<string, (ev: unknown) => void> & { url: string }> = [];
    const got: DirectMessage[] = [];
    const c = new NotifyConnection({
      path: '/api/notifications/ws',
      onState: () => undefined,
      onMessage: (m) => got.push(m),
      createSocket: (url) => {
        const ws = { url, close: () => undefined } as unknown as Record<string, (ev: unknown) => void> & { url: string };
        sockets.push(ws);
        return ws as unknown as WebSocket;
      },
    });
    c.start();
    expect(sockets[0].url).toMatch(/\/api\/notifications\/ws$/);
    const dm = { id: 1, sender: { id: 1, username: 'a' }, recipient: { id: 2, username: 'b' }, text: 'hi', created_at: '', read_at: null };
    sockets[0].onmessage({ data: JSON.stringify({ type: 'message', message: dm }) });
    expect(got).toEqual([dm]);
    c.stop();
  });
});

describe('direct messages', () => {
  it('merges by id in order', () => {
    const m = (id: number) => ({ id, sender: { id: 1, username: 'a' }, recipient: { id: 2, username: 'b' }, text: String(id), created_at: '', read_at: null });
    expect(mergeDirect([m(3), m(1)], [m(2), m(3)]).map((x) => x.id)).toEqual([1, 2, 3]);
  });
});

describe('friends positions', () => {
  it('applies location and location_removed frames', async () => {
    const { applyLocationFrame } = await import('../components/FriendsMap');
    const loc = { type: 'location', user: { id: 1, username: 'ann' }, latitude: 1, longitude: 2, accuracy_m: 100, updated_at: '', expires_at: '' };
    let list = applyLocationFrame([], loc);
    expect(list.map((l) => l.latitude)).toEqual([1]);
    list = applyLocationFrame(list, { ...loc, latitude: 3 });
    expect(list.map((l) => l.latitude)).toEqual([3]);
    expect(applyLocationFrame(list, { type: 'location_removed', user: { id: 1 } })).toEqual([]);
    expect(applyLocationFrame(list, { type: 'message', user: { id: 1 } })).toBe(list);
  });
});
