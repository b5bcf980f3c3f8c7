// Web Push on this device (issue 16, optional): the service worker /sw.js shows what social pushes. Subscribing
// asks the browser's permission, then hands social the subscription; social only pushes when it has VAPID keys.
import { ApiError, notifications } from '../api';

export type PushState = 'unsupported' | 'unavailable' | 'denied' | 'on' | 'off';

/** The VAPID key (base64url) as the bytes `applicationServerKey` wants. */
export function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4);
  const raw = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function supported(): boolean {
  return typeof window !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** Whether the server pushes at all (404 `push_disabled` otherwise); its key when it does. */
async function serverKey(): Promise<string | null> {
  try {
    return (await notifications.pushKey()).public_key;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

export async function pushState(): Promise<PushState> {
  if (!supported()) return 'unsupported';
  if ((await serverKey()) === null) return 'unavailable';
  if (Notification.permission === 'denied') return 'denied';
  const reg = await navigator.serviceWorker.getRegistration('/');
  return (await reg?.pushManager.getSubscription()) ? 'on' : 'off';
}

/** Ask permission, subscribe this browser and register it with social. */
export async function enablePush(): Promise<PushState> {
  const key = await serverKey();
  if (key === null) return 'unavailable';
  if ((await Notification.requestPermission()) !== 'granted') return 'denied';
  const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  await notifications.pushSubscribe(sub.toJSON());
  return 'on';
}

/** Forget this browser at social and drop its subscription. */
export async function disablePush(): Promise<PushState> {
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = await reg?.pushManager.getSubscription();
  if (sub) {
    await notifications.pushUnsubscribe(sub.endpoint);
    await sub.unsubscribe();
  }
  return 'off';
}
