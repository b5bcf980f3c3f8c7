import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeFetch } from '../test/fakes';
import { disablePush, enablePush, keyBytes, pushState } from './push';

afterEach(() => vi.unstubAllGlobals());

function stubBrowser(permission: NotificationPermission) {
  let current: { endpoint: string; toJSON: () => unknown; unsubscribe: () => Promise<boolean> } | null = null;
  const subscribe = vi.fn(async () => {
    current = {
      endpoint: 'https://fcm.googleapis.com/fcm/send/x',
      toJSON: () => ({ endpoint: 'https://fcm.googleapis.com/fcm/send/x', keys: { p256dh: 'BP', auth: 'au' } }),
      unsubscribe: async () => ((current = null), true),
    };
    return current;
  });
  const reg = { pushManager: { subscribe, getSubscription: async () => current } };
  const register = vi.fn(async () => reg);
  vi.stubGlobal('navigator', { serviceWorker: { register, ready: Promise.resolve(reg), getRegistration: async () => reg } });
  vi.stubGlobal('PushManager', function PushManager() {});
  vi.stubGlobal('Notification', { permission, requestPermission: async () => permission });
  return { register, subscribe };
}

describe('Web Push on this device', () => {
  it('turns the base64url VAPID key into bytes', () => {
    expect(Array.from(keyBytes('BAEC_w'))).toEqual([4, 1, 2, 255]);
  });

  it('subscribes with the server key, registers the subscription, and unsubscribes', async () => {
    const { register, subscribe } = stubBrowser('granted');
    const { fn, calls } = fakeFetch([
      ['GET', /push-key$/, () => ({ body: { public_key: 'BAEC_w' } })],
      ['POST', /push-subscriptions$/, () => ({ status: 201, body: { endpoint: 'x' } })],
      ['DELETE', /push-subscriptions$/, () => ({ status: 204 })],
    ]);
    vi.stubGlobal('fetch', fn);
    expect(await pushState()).toBe('off');
    expect(await enablePush()).toBe('on');
    expect(register).toHaveBeenCalledWith('/sw.js', { scope: '/' });
    expect(Array.from((subscribe.mock.calls[0] as unknown as [{ applicationServerKey: Uint8Array }])[0].applicationServerKey)).toEqual([4, 1, 2, 255]);
    const posted = calls.find((c) => c.method === 'POST');
    expect(posted?.body).toEqual({ endpoint: 'https://fcm.googleapis.com/fcm/send/x', keys: { p256dh: 'BP', auth: 'au' } });
    expect(await pushState()).toBe('on');
    expect(await disablePush()).toBe('off');
    expect(calls.find((c) => c.method === 'DELETE')?.body).toEqual({ endpoint: 'https://fcm.googleapis.com/fcm/send/x' });
  });

  it('stays hidden when the server has no push and does nothing when permission is refused', async () => {
    const { subscribe } = stubBrowser('denied');
    vi.stubGlobal('fetch', fakeFetch([['GET', /push-key$/, () => ({ status: 404, body: { error: 'off', code: 'push_disabled' } })]]).fn);
    expect(await pushState()).toBe('unavailable');
    vi.stubGlobal('fetch', fakeFetch([['GET', /push-key$/, () => ({ body: { public_key: 'BAEC_w' } })]]).fn);
    expect(await enablePush()).toBe('denied');
    expect(subscribe).not.toHaveBeenCalled();
  });
});
