// Live chat of a concert over the same-origin WebSocket (cookies authenticate it).
// Frames: {type: "history"|"message"|"presence"|"typing"|"error", ...}. Reconnects with ?after=<last id>.
import type { ChatMessage, Id, UserRef } from '../api/types';

export interface PresenceUser {
  id: Id;
  username: string;
}

export interface ChatState {
  messages: ChatMessage[];
  present: PresenceUser[];
  typing: string[];
  error: string | null;
  connected: boolean;
  /** The socket dropped (or never opened) and a reconnect is scheduled. */
  reconnecting?: boolean;
}

export type Frame = { type: string; [k: string]: unknown };

function asMessage(v: unknown): ChatMessage | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (o.id === undefined || typeof o.message !== 'string') return null;
  const user = (o.user as UserRef) ?? { id: (o.user_id as Id) ?? '', username: (o.username as string) ?? '' };
  return { id: o.id as Id, concert_id: o.concert_id as Id, user, message: o.message, created_at: (o.created_at as string) ?? new Date().toISOString() };
}

function asUser(v: unknown): PresenceUser | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  const id = (o.id ?? o.user_id) as Id | undefined;
  const username = o.username as string | undefined;
  if (id === undefined || !username) return null;
  return { id, username };
}

/** Merge messages by id, keep order by id (numeric when possible) — duplicates after a reconnect vanish. */
export function mergeMessages(existing: ChatMessage[], incoming: ChatMessage[]): ChatMessage[] {
  const byId = new Map<string, ChatMessage>();
  for (const m of existing) byId.set(String(m.id), m);
  for (const m of incoming) byId.set(String(m.id), m);
  return [...byId.values()].sort((a, b) => {
    const na = Number(a.id);
    const nb = Number(b.id);
    if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
    return a.created_at.localeCompare(b.created_at);
  });
}

/** Apply one server frame to the chat state (pure). */
export function applyFrame(state: ChatState, frame: Frame, selfId?: Id): ChatState {
  switch (frame.type) {
    case 'history': {
      const list = (Array.isArray(frame.messages) ? frame.messages : []).map(asMessage).filter((m): m is ChatMessage => !!m);
      const present = Array.isArray(frame.users) ? frame.users.map(asUser).filter((u): u is PresenceUser => !!u) : state.present;
      return { ...state, messages: mergeMessages(state.messages, list), present };
    }
    case 'message': {
      const m = asMessage(frame.message && typeof frame.message === 'object' ? frame.message : frame) ?? asMessage(frame.data);
      if (!m) return state;
      return { ...state, messages: mergeMessages(state.messages, [m]), typing: state.typing.filter((u) => u !== m.user.username), error: null };
    }
    case 'presence': {
      if (Array.isArray(frame.users)) {
        return { ...state, present: frame.users.map(asUser).filter((u): u is PresenceUser => !!u) };
      }
      const u = asUser(frame.user ?? frame);
      if (!u) return state;
      const action = String(frame.action ?? frame.event ?? frame.status ?? 'join');
      const without = state.present.filter((p) => String(p.id) !== String(u.id));
      return { ...state, present: /leave|left|offline|disconnect/.test(action) ? without : [...without, u] };
    }
    case 'typing': {
      const u = asUser(frame.user ?? frame);
      if (!u || (selfId !== undefined && String(u.id) === String(selfId))) return state;
      return state.typing.includes(u.username) ? state : { ...state, typing: [...state.typing, u.username] };
    }
    case 'error': {
      const msg = (frame.error ?? frame.message ?? frame.detail ?? 'The chat refused that message.') as string;
      return { ...state, error: String(msg) };
    }
    default:
      return state;
  }
}

export function lastMessageId(messages: ChatMessage[]): Id | null {
  return messages.length ? messages[messages.length - 1].id : null;
}

export function socketUrl(path: string, after: Id | null, loc: { protocol: string; host: string } = window.location): string {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = after !== null && after !== undefined ? `?after=${encodeURIComponent(String(after))}` : '';
  return `${proto}//${loc.host}${path}${q}`;
}

export interface ChatConnectionOptions {
  path: string;
  onState: (s: ChatState) => void;
  /** Every frame as it arrives (friends' `location` / `location_removed` frames ride on this socket). */
  onFrame?: (frame: Frame) => void;
  selfId?: Id;
  createSocket?: (url: string) => WebSocket;
  maxDelayMs?: number;
  /** Called when the server closes with 4401 (session expired); resolve true to reconnect once. */
  refreshSession?: () => Promise<boolean>;
}

/**
 * Close codes of the chat socket (social service): 4401 unauthenticated (signed out, session ended or
 * token expired), 4403 not allowed (also when access goes while connected), 4404 no such show,
 * 1013 access cannot be checked right now (reconnect later).
 */
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_FORBIDDEN = 4403;
const PERMANENT = new Set([CLOSE_FORBIDDEN, 4404, 1008]);

/** What to tell the person when the chat closes for good (the server's reason when it gave one). */
export function closeMessage(code: number, reason: string): string | null {
  if (reason) return reason;
  if (code === CLOSE_UNAUTHENTICATED) return 'You were signed out.';
  if (code === CLOSE_FORBIDDEN) return 'You no longer have access to this show.';
  if (PERMANENT.has(code)) return 'You cannot join this chat (log the show or check in first).';
  return null;
}

/** Owns one WebSocket, reconnecting with backoff and ?after= the last seen id. */
export class ChatConnection {
  state: ChatState = { messages: [], present: [], typing: [], error: null, connected: false };
  private ws: WebSocket | null = null;
  private closed = false;
  private attempt = 0;
  private refreshed = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly opts: ChatConnectionOptions;

  constructor(opts: ChatConnectionOptions) {
    this.opts = opts;
  }

  start(): void {
    this.closed = false;
    this.open();
  }

  private set(next: ChatState): void {
    this.state = next;
    this.opts.onState(next);
  }

  private open(): void {
    const url = socketUrl(this.opts.path, lastMessageId(this.state.messages));
    const ws = (this.opts.createSocket ?? ((u) => new WebSocket(u)))(url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.refreshed = false;
      this.set({ ...this.state, connected: true, reconnecting: false, error: null });
    };
    ws.onmessage = (ev: MessageEvent) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (!frame || typeof frame.type !== 'string') return;
      this.opts.onFrame?.(frame);
      const next = applyFrame(this.state, frame, this.opts.selfId);
      if (frame.type === 'typing') this.expireTyping(next);
      this.set(next);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === CLOSE_UNAUTHENTICATED && this.opts.refreshSession && !this.refreshed && !this.closed) {
        this.refreshed = true;
        this.set({ ...this.state, connected: false, reconnecting: true });
        // an expired token: refresh and reconnect silently; a revoked session cannot refresh
        void this.opts.refreshSession().then((ok) => {
          if (this.closed) return;
          if (ok) this.open();
          else this.set({ ...this.state, reconnecting: false, error: closeMessage(ev.code, ev.reason) });
        });
        return;
      }
      const denied = PERMANENT.has(ev.code) || ev.code === CLOSE_UNAUTHENTICATED;
      const reason = denied ? closeMessage(ev.code, ev.reason) : null;
      this.set({ ...this.state, connected: false, reconnecting: !this.closed && !denied, error: reason ?? this.state.error });
      if (!this.closed && !denied) this.scheduleReconnect();
    };
  }

  private expireTyping(state: ChatState): void {
    for (const name of state.typing) {
      const old = this.typingTimers.get(name);
      if (old) clearTimeout(old);
      this.typingTimers.set(
        name,
        setTimeout(() => {
          this.typingTimers.delete(name);
          this.set({ ...this.state, typing: this.state.typing.filter((n) => n !== name) });
        }, 4000),
      );
    }
  }

  private scheduleReconnect(): void {
    const delay = Math.min(this.opts.maxDelayMs ?? 10000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => this.open(), delay);
  }

  /** Send a chat message; false when the socket is not open (the caller shows why). */
  send(message: string): boolean {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify({ type: 'message', message }));
    return true;
  }

  typing(): void {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ type: 'typing' }));
  }

  clearError(): void {
    if (this.state.error) this.set({ ...this.state, error: null });
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const t of this.typingTimers.values()) clearTimeout(t);
    this.typingTimers.clear();
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }
}
