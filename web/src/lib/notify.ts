// The notifications socket (/api/notifications/ws): new notifications and direct messages, live.
// Frames: hello {unread}, notification {notification}, message {message}, read {...}, closing {code, reason}.
// The list endpoints are the record; the socket only says "something new" (badge, toast, open thread).
import type { AppNotification, DirectMessage } from '../api/types';
import { CLOSE_UNAUTHENTICATED, socketUrl, type Frame } from './chat';

export interface NotifyState {
  unread: number;
  /** Newest first; only what arrived live since the page loaded. */
  recent: AppNotification[];
  /** The newest live notification not dismissed yet (the toast). */
  toast: AppNotification | null;
  connected: boolean;
}

export const initialNotifyState: NotifyState = { unread: 0, recent: [], toast: null, connected: false };

/** Apply one server frame (pure). */
export function applyNotifyFrame(state: NotifyState, frame: Frame): NotifyState {
  switch (frame.type) {
    case 'hello':
      return { ...state, unread: typeof frame.unread === 'number' ? frame.unread : state.unread, connected: true };
    case 'notification': {
      const n = frame.notification as AppNotification | undefined;
      if (!n || n.id === undefined || state.recent.some((r) => String(r.id) === String(n.id))) return state;
      return { ...state, unread: state.unread + 1, recent: [n, ...state.recent].slice(0, 20), toast: n };
    }
    default:
      return state;
  }
}

export interface NotifyOptions {
  path: string;
  onState: (s: NotifyState) => void;
  onMessage?: (m: DirectMessage) => void;
  createSocket?: (url: string) => WebSocket;
  refreshSession?: () => Promise<boolean>;
}

/** One socket per signed-in tab, reconnecting with backoff; an expired token is refreshed once. */
export class NotifyConnection {
  state: NotifyState = initialNotifyState;
  private ws: WebSocket | null = null;
  private closed = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly opts: NotifyOptions;

  constructor(opts: NotifyOptions) {
    this.opts = opts;
  }

  start(): void {
    this.closed = false;
    this.open();
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
  }

  set(next: NotifyState): void {
    this.state = next;
    this.opts.onState(next);
  }

  private open(): void {
    const ws = (this.opts.createSocket ?? ((u) => new WebSocket(u)))(socketUrl(this.opts.path, null));
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
    };
    ws.onmessage = (ev: MessageEvent) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (!frame || typeof frame.type !== 'string') return;
      if (frame.type === 'message' && frame.message && this.opts.onMessage) this.opts.onMessage(frame.message as DirectMessage);
      this.set(applyNotifyFrame(this.state, frame));
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.set({ ...this.state, connected: false });
      if (this.closed) return;
      if (ev.code === CLOSE_UNAUTHENTICATED) {
        // an expired token refreshes and reconnects; a revoked session cannot, and the app signs out
        if (this.opts.refreshSession) void this.opts.refreshSession().then((ok) => ok && !this.closed && this.open());
        return;
      }
      const delay = Math.min(30_000, 1000 * 2 ** this.attempt++);
      this.timer = setTimeout(() => this.open(), delay);
    };
  }
}
